"""Dashboard pages for what a workspace defines: event types, applications, environments."""

from __future__ import annotations

from datetime import timedelta

from flask import flash, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from app.db import utcnow
from app.schemas import parse
from app.schemas.management import ApplicationCreate, EnvironmentCreate, EventTypeCreate
from app.services import applications, environments, event_types
from app.services.endpoints import list_endpoints
from app.web.dashboard import bp, signed_in

PORTAL_LINK_TTL = timedelta(hours=1)
APPLICATIONS_SHOWN = 100


def _form(*names: str) -> dict[str, str]:
    """The named fields that were filled in; empty ones are left out, as the API's bodies."""
    return {name: value for name in names if (value := request.form.get(name, "").strip())}


@bp.get("/event-types")
def list_event_types() -> str:
    with signed_in() as (db, workspace_id):
        found = event_types.list_event_types(db, workspace_id)
    return render_template(
        "dashboard/event_types.html", workspace_id=workspace_id, event_types=found
    )


@bp.post("/event-types")
def add_event_type() -> Response:
    spec = parse(EventTypeCreate, _form("name", "description"))
    with signed_in() as (db, workspace_id):
        created = event_types.create_event_type(db, workspace_id, spec.name, spec.description)
    flash(f"Event type {spec.name} created.")
    return redirect(url_for("dashboard.show_event_type", event_type_id=created.id))


@bp.get("/event-types/<event_type_id>")
def show_event_type(event_type_id: str) -> str:
    with signed_in() as (db, workspace_id):
        event_type = event_types.get_event_type(db, workspace_id, event_type_id)
        subscribers = event_types.subscribers(db, workspace_id, event_type_id)
        return render_template(
            "dashboard/event_type.html",
            workspace_id=workspace_id,
            event_type=event_type,
            subscribers=subscribers,
        )


@bp.get("/applications")
def list_applications() -> str:
    with signed_in() as (db, workspace_id):
        found = applications.list_applications(db, workspace_id, APPLICATIONS_SHOWN, 0)
    return render_template(
        "dashboard/applications.html", workspace_id=workspace_id, applications=found
    )


@bp.post("/applications")
def add_application() -> Response:
    spec = parse(ApplicationCreate, _form("name", "externalId"))
    with signed_in() as (db, workspace_id):
        created = applications.create_application(
            db, workspace_id, name=spec.name, external_id=spec.externalId
        )
    flash(f"Application {spec.name} created.")
    return redirect(url_for("dashboard.show_application", application_id=created.id))


def _application_page(application_id: str, portal_link: str | None = None) -> str:
    with signed_in() as (db, workspace_id):
        return render_template(
            "dashboard/application.html",
            workspace_id=workspace_id,
            application=applications.get_application(db, workspace_id, application_id),
            endpoints=list_endpoints(db, workspace_id, application_id),
            portal_link=portal_link,
        )


@bp.get("/applications/<application_id>")
def show_application(application_id: str) -> str:
    return _application_page(application_id)


@bp.post("/applications/<application_id>/portal")
def open_portal(application_id: str) -> str:
    """Issue a one-time portal link and show it on this response only; it is never stored."""
    role = "viewer" if request.form.get("role") == "viewer" else "admin"
    with signed_in() as (db, workspace_id):
        issued = applications.create_portal_session(
            db,
            workspace_id,
            application_id,
            role=role,
            metadata=None,
            ttl=PORTAL_LINK_TTL,
            now=utcnow(),
        )
    link = url_for("portal.home", code=issued.code, _external=True)
    return _application_page(application_id, portal_link=link)


@bp.get("/environments")
def list_environments() -> str:
    with signed_in() as (db, workspace_id):
        found = environments.list_environments(db, workspace_id)
    return render_template(
        "dashboard/environments.html", workspace_id=workspace_id, environments=found
    )


@bp.post("/environments")
def add_environment() -> Response:
    spec = parse(EnvironmentCreate, _form("name", "slug"))
    with signed_in() as (db, workspace_id):
        created = environments.create_environment(db, workspace_id, spec.name, spec.slug)
    flash(f"Environment {spec.name} created.")
    return redirect(url_for("dashboard.show_environment", environment_id=created.id))


@bp.get("/environments/<environment_id>")
def show_environment(environment_id: str) -> str:
    with signed_in() as (db, workspace_id):
        environment = environments.get_environment(db, workspace_id, environment_id)
        return render_template(
            "dashboard/environment.html",
            workspace_id=workspace_id,
            environment=environment,
            visibility=environments.list_visibility(db, workspace_id, environment_id),
        )


@bp.post("/environments/<environment_id>/event-types/<event_type_id>")
def publish_event_type(environment_id: str, event_type_id: str) -> Response:
    published = request.form.get("published") == "true"
    with signed_in() as (db, workspace_id):
        environments.set_visibility(db, workspace_id, environment_id, event_type_id, published)
    return redirect(url_for("dashboard.show_environment", environment_id=environment_id))
