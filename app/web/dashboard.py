"""The operator dashboard under /dashboard, signed in with a management token.

The session cookie (signed with HOOKRELAY_SECRET_KEY) keeps a session id, never the token;
each request checks the session on the server (app/services/dashboard_sessions.py), so signing
out, the session's expiry or revoking the token ends it. Failed sign-ins are rate limited per
client address and per token prefix.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, session, url_for
from sqlalchemy.orm import Session
from werkzeug.wrappers import Response

from app.api.context import runtime
from app.db import utcnow
from app.errors import APIError, as_api_error
from app.models import Endpoint
from app.services import dashboard, dashboard_sessions, endpoints, history
from app.services.auth import authenticate_management_token
from app.services.errors import ServiceError
from app.services.lookup import owned
from app.web.chart import DEFAULT_RANGE, HEIGHT, RANGES, WIDTH, stacked_bars, time_axis
from app.web.limits import limits_update

bp = Blueprint("dashboard", __name__, url_prefix="/dashboard")
SESSION_KEY = "dashboard"


@contextmanager
def signed_in() -> Iterator[tuple[Session, str]]:
    """A transaction for the signed-in workspace; raise `_SignIn` when there is none."""
    held = session.get(SESSION_KEY) or {}
    with runtime().sessions.begin() as db:
        token = dashboard_sessions.live_token(db, str(held.get("id", "")), utcnow())
        if token is None:
            session.pop(SESSION_KEY, None)
            raise _SignIn()
        yield db, token.workspace_id


class _SignIn(Exception):
    """No live dashboard session: the handler sends the browser to the sign-in form."""


@bp.errorhandler(_SignIn)
def to_sign_in(_exc: _SignIn) -> Response:
    return redirect(url_for("dashboard.sign_in", next=request.path))


@bp.errorhandler(APIError)
@bp.errorhandler(ServiceError)
def refused(error: APIError | ServiceError) -> Response | tuple[str, int]:
    """A refused form shows its reason on the page it came from; anything else gets a page."""
    exc = as_api_error(error)
    if request.method == "POST" and exc.status not in (404,) and exc.status < 500:
        flash(exc.message)
        return redirect(request.referrer or url_for("dashboard.overview"))
    page = render_template("dashboard/refused.html", message=exc.message, status=exc.status)
    return page, exc.status


@bp.get("/login")
def sign_in() -> str:
    return render_template("dashboard/login.html", error=None)


@bp.post("/login")
def submit_sign_in() -> Response | tuple[str, int, dict[str, str]]:
    submitted = request.form.get("token", "").strip()
    limits, who = runtime().rate_limits(), (request.remote_addr or "", submitted[:10])
    try:
        limits.sign_in(*who)
        with runtime().sessions.begin() as db:
            token = authenticate_management_token(db, submitted)
            opened = dashboard_sessions.open_session(db, token, utcnow())
    except (APIError, ServiceError) as error:
        exc = as_api_error(error)
        if exc.status == 401:
            limits.sign_in_failed(*who)
        return _refused_sign_in(exc)
    session.clear()  # nothing from before the sign-in (a planted CSRF token) carries over
    session[SESSION_KEY] = {"id": opened}
    target = request.args.get("next", "")
    # Only a path of this site: never an absolute URL an attacker could put in `next`.
    safe = target.startswith("/dashboard") and not target.startswith("//")
    return redirect(target if safe else url_for("dashboard.overview"))


def _refused_sign_in(exc: APIError) -> tuple[str, int, dict[str, str]]:
    """The sign-in form again, saying why: a wrong token (401) or too many failures (429)."""
    message = "That token is not valid."
    if exc.status == 429:
        message = f"Too many failed sign-ins. Try again in {exc.headers['Retry-After']} seconds."
    return render_template("dashboard/login.html", error=message), exc.status, exc.headers


@bp.post("/logout")
def sign_out() -> Response:
    held = session.pop(SESSION_KEY, None) or {}
    with runtime().sessions.begin() as db:
        dashboard_sessions.close_session(db, str(held.get("id", "")))
    return redirect(url_for("dashboard.sign_in"))


@bp.get("/")
def overview() -> str:
    chosen = request.args.get("range", DEFAULT_RANGE)
    if chosen not in RANGES:
        chosen = DEFAULT_RANGE
    span = RANGES[chosen]
    now = utcnow()
    with signed_in() as (db, workspace_id):
        health = dashboard.endpoint_health(db, workspace_id, now - timedelta(hours=24))
        series = dashboard.attempts_over_time(db, workspace_id, now - span.span, now, span.step)
    bars, top = stacked_bars(series)
    return render_template(
        "dashboard/overview.html",
        workspace_id=workspace_id,
        health=health,
        bars=bars,
        ticks=time_axis(series, span),
        top=top,
        width=WIDTH,
        height=HEIGHT,
        ranges=RANGES,
        chosen=chosen,
        totals=(sum(s[1] for s in series), sum(s[2] for s in series)),
    )


@bp.get("/endpoints/<endpoint_id>")
def show_endpoint(endpoint_id: str) -> str:
    with signed_in() as (db, workspace_id):
        endpoint = owned(db, Endpoint, workspace_id, endpoint_id, "Endpoint")
        recent, _cursor = history.list_deliveries(
            db, workspace_id, endpoint_id, limit=20, cursor=None, status=None
        )
    return render_template(
        "dashboard/endpoint.html",
        workspace_id=workspace_id,
        endpoint=endpoint,
        recent=recent,
        default_max_in_flight=runtime().settings.endpoint_max_in_flight,
    )


@bp.post("/endpoints/<endpoint_id>/<action>")
def act_on_endpoint(endpoint_id: str, action: str) -> Response:
    actions: dict[str, Any] = {
        "enable": lambda db, ws: endpoints.toggle_endpoint(db, ws, endpoint_id, True),
        "disable": lambda db, ws: endpoints.toggle_endpoint(db, ws, endpoint_id, False),
        "rotate": lambda db, ws: endpoints.rotate_secret(
            db, ws, endpoint_id, timedelta(hours=24), utcnow()
        ),
        # The limits form never changes the URL, so no destination is vetted here.
        "limits": lambda db, ws: endpoints.update_endpoint(
            db, ws, endpoint_id, limits_update(request.form), allow_private=True
        ),
    }
    if action not in actions:
        raise APIError(404, "not_found", "no such action")
    with signed_in() as (db, workspace_id):
        actions[action](db, workspace_id)
    return redirect(url_for("dashboard.show_endpoint", endpoint_id=endpoint_id))
