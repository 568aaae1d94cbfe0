"""The operator dashboard under /dashboard, signed in with a management token.

The session cookie (signed with HOOKRELAY_SECRET_KEY) keeps the token's id, never the token:
each request re-checks that the token is not revoked, so revoking it signs the operator out.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

from flask import Blueprint, redirect, render_template, request, session, url_for
from sqlalchemy.orm import Session
from werkzeug.wrappers import Response

from app.api.context import runtime
from app.db import utcnow
from app.errors import APIError
from app.models import DELIVERY_STATUSES, Endpoint
from app.services import dashboard, endpoints, history, redelivery
from app.services.auth import authenticate_management_token
from app.services.lookup import owned
from app.web.chart import HEIGHT, WIDTH, stacked_bars
from app.web.limits import limits_update

bp = Blueprint("dashboard", __name__, url_prefix="/dashboard")
SESSION_KEY = "dashboard"
CHART_HOURS = 3


@contextmanager
def signed_in() -> Iterator[tuple[Session, str]]:
    """A transaction for the signed-in workspace; raise `_SignIn` when there is none."""
    held = session.get(SESSION_KEY) or {}
    with runtime().sessions.begin() as db:
        token = dashboard.live_token(db, str(held.get("token_id", "")))
        if token is None or token.workspace_id != held.get("workspace_id"):
            session.pop(SESSION_KEY, None)
            raise _SignIn()
        yield db, token.workspace_id


class _SignIn(Exception):
    """No live dashboard session: the handler sends the browser to the sign-in form."""


@bp.errorhandler(_SignIn)
def to_sign_in(_exc: _SignIn) -> Response:
    return redirect(url_for("dashboard.sign_in", next=request.path))


@bp.get("/login")
def sign_in() -> str:
    return render_template("dashboard/login.html", error=None)


@bp.post("/login")
def submit_sign_in() -> Response | tuple[str, int]:
    try:
        with runtime().sessions.begin() as db:
            token = authenticate_management_token(db, request.form.get("token", "").strip())
    except APIError:
        return render_template("dashboard/login.html", error="That token is not valid."), 401
    session[SESSION_KEY] = {"token_id": token.id, "workspace_id": token.workspace_id}
    target = request.args.get("next", "")
    # Only a path of this site: never an absolute URL an attacker could put in `next`.
    safe = target.startswith("/dashboard") and not target.startswith("//")
    return redirect(target if safe else url_for("dashboard.overview"))


@bp.post("/logout")
def sign_out() -> Response:
    session.pop(SESSION_KEY, None)
    return redirect(url_for("dashboard.sign_in"))


@bp.get("/")
def overview() -> str:
    now = utcnow()
    since = now - timedelta(hours=CHART_HOURS)
    with signed_in() as (db, workspace_id):
        health = dashboard.endpoint_health(db, workspace_id, now - timedelta(hours=24))
        series = dashboard.attempts_per_minute(db, workspace_id, since, now)
    bars, top = stacked_bars(series)
    return render_template(
        "dashboard/overview.html",
        workspace_id=workspace_id,
        health=health,
        bars=bars,
        top=top,
        width=WIDTH,
        height=HEIGHT,
        hours=CHART_HOURS,
        totals=(sum(s[1] for s in series), sum(s[2] for s in series)),
    )


@bp.get("/deliveries")
def list_deliveries() -> str:
    status = request.args.get("status") or None
    query = (request.args.get("q") or "").strip() or None
    with signed_in() as (db, workspace_id):
        found = dashboard.search_deliveries(
            db, workspace_id, status=status if status in DELIVERY_STATUSES else None, query=query
        )
    return render_template(
        "dashboard/deliveries.html",
        workspace_id=workspace_id,
        deliveries=found,
        statuses=DELIVERY_STATUSES,
        status=status,
        query=query or "",
    )


@bp.get("/deliveries/<delivery_id>")
def show_delivery(delivery_id: str) -> str:
    with signed_in() as (db, workspace_id):
        delivery = history.get_delivery(db, workspace_id, delivery_id)
        attempts = history.list_attempts(db, workspace_id, delivery_id)
    return render_template(
        "dashboard/delivery.html",
        workspace_id=workspace_id,
        delivery=delivery,
        attempts=attempts,
        retryable=delivery.status in redelivery.FINAL_STATUSES,
    )


@bp.post("/deliveries/<delivery_id>/retry")
def retry_delivery(delivery_id: str) -> Response:
    with signed_in() as (db, workspace_id):
        redelivery.retry_delivery(db, workspace_id, delivery_id, utcnow())
    runtime().publisher.publish([delivery_id])  # after the commit, like every publish
    return redirect(url_for("dashboard.show_delivery", delivery_id=delivery_id))


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
