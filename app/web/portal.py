"""The customer portal under /portal: one application's endpoints, subscriptions, deliveries.

A portal link (`/portal?code=...`, from the management API's portal sessions) is redeemed
once; the browser then holds a signed session cookie scoped to that application until the
code's expiry. A `viewer` session sees everything and changes nothing.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import datetime
from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, session, url_for
from sqlalchemy.orm import Session
from werkzeug.wrappers import Response

from app.api.context import runtime
from app.db import utcnow
from app.errors import APIError, as_api_error
from app.schemas import parse
from app.schemas.management import AppEndpointCreate, EndpointUpdate
from app.services import endpoints, history, portal
from app.services.applications import create_application_endpoint
from app.services.errors import ServiceError
from app.web.limits import limit_fields

bp = Blueprint("portal", __name__, url_prefix="/portal")
SESSION_KEY = "portal"


class _NoGrant(Exception):
    """No live portal session in this browser."""


@bp.errorhandler(_NoGrant)
def refused(_exc: _NoGrant) -> tuple[str, int]:
    return render_template("portal/refused.html"), 403


@bp.errorhandler(APIError)
@bp.errorhandler(ServiceError)
def form_error(error: APIError | ServiceError) -> Response | tuple[str, int]:
    """Show a refused change on the page it came from, instead of the API's JSON error."""
    exc = as_api_error(error)
    if request.method != "POST" or exc.status >= 500:
        return render_template("portal/refused.html", message=exc.message), exc.status
    flash(exc.message)
    return redirect(request.referrer or url_for("portal.home"))


def current_grant(editing: bool = False) -> portal.Grant:
    held = session.get(SESSION_KEY)
    if not held or datetime.fromisoformat(held["expires_at"]) <= utcnow():
        session.pop(SESSION_KEY, None)
        raise _NoGrant()
    grant = portal.Grant(**{**held, "expires_at": datetime.fromisoformat(held["expires_at"])})
    if editing and not grant.can_edit:
        raise APIError(403, "forbidden", "this portal session may only view")
    return grant


@contextmanager
def scoped(editing: bool = False) -> Iterator[tuple[Session, portal.Grant]]:
    grant = current_grant(editing)
    with runtime().sessions.begin() as db:
        yield db, grant


@bp.get("")
@bp.get("/")
def home() -> Response | str:
    code = request.args.get("code")
    if code:
        with runtime().sessions.begin() as db:
            grant = portal.redeem(db, code, utcnow())
        if grant is None:
            session.pop(SESSION_KEY, None)
            raise _NoGrant()
        session[SESSION_KEY] = {**vars(grant), "expires_at": grant.expires_at.isoformat()}
        return redirect(url_for("portal.home"))  # drop the spent code from the address bar
    with scoped() as (db, grant):
        return render_template(
            "portal/home.html",
            grant=grant,
            application=portal.application(db, grant),
            endpoints=portal.endpoints(db, grant),
            event_types=portal.published_event_types(db, grant),
            deliveries=portal.recent_deliveries(db, grant),
        )


def _wanted_types() -> set[str]:
    return set(request.form.getlist("event_types"))


@bp.post("/endpoints")
def add_endpoint() -> Response:
    spec = parse(AppEndpointCreate, _form_fields())
    with scoped(editing=True) as (db, grant):
        created = create_application_endpoint(
            db,
            grant.workspace_id,
            grant.application_id,
            url=str(spec.url),
            description=spec.description,
            allow_private=runtime().settings.allow_private_destinations,
            allow_metadata=runtime().settings.allow_metadata_destinations,
        )
        portal.set_subscriptions(db, grant, created.id, _wanted_types())
    flash("Endpoint added.")
    return redirect(url_for("portal.show_endpoint", endpoint_id=created.id))


def _form_fields() -> dict[str, Any]:
    fields: dict[str, Any] = {"url": request.form.get("url", "").strip()}
    if description := request.form.get("description", "").strip():
        fields["description"] = description
    return fields


@bp.get("/endpoints/<endpoint_id>")
def show_endpoint(endpoint_id: str) -> str:
    with scoped() as (db, grant):
        endpoint = portal.endpoint(db, grant, endpoint_id)
        return render_template(
            "portal/endpoint.html",
            grant=grant,
            endpoint=endpoint,
            event_types=portal.published_event_types(db, grant),
            subscribed=portal.subscribed_ids(db, endpoint.id),
            default_max_in_flight=runtime().settings.endpoint_max_in_flight,
        )


@bp.post("/endpoints/<endpoint_id>")
def edit_endpoint(endpoint_id: str) -> Response:
    body = parse(EndpointUpdate, _form_fields() | limit_fields(request.form))
    # The form always holds the description: an emptied box clears it.
    change = replace(body.as_change(), description=body.description)
    with scoped(editing=True) as (db, grant):
        portal.endpoint(db, grant, endpoint_id)
        endpoints.update_endpoint(
            db,
            grant.workspace_id,
            endpoint_id,
            change,
            allow_private=runtime().settings.allow_private_destinations,
            allow_metadata=runtime().settings.allow_metadata_destinations,
        )
        portal.set_subscriptions(db, grant, endpoint_id, _wanted_types())
    flash("Endpoint saved.")
    return redirect(url_for("portal.show_endpoint", endpoint_id=endpoint_id))


@bp.post("/endpoints/<endpoint_id>/<any(enable, disable):action>")
def toggle_endpoint(endpoint_id: str, action: str) -> Response:
    with scoped(editing=True) as (db, grant):
        portal.endpoint(db, grant, endpoint_id)
        endpoints.toggle_endpoint(db, grant.workspace_id, endpoint_id, action == "enable")
    return redirect(url_for("portal.show_endpoint", endpoint_id=endpoint_id))


@bp.get("/deliveries/<delivery_id>")
def show_delivery(delivery_id: str) -> str:
    with scoped() as (db, grant):
        delivery = portal.delivery(db, grant, delivery_id)
        attempts = history.list_attempts(db, grant.workspace_id, delivery_id)
        return render_template(
            "portal/delivery.html", grant=grant, delivery=delivery, attempts=attempts
        )
