"""Dashboard endpoint actions beyond the endpoint page: create one, send it a test event."""

from __future__ import annotations

from typing import Any

from flask import flash, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from app.api.context import runtime
from app.db import utcnow
from app.schemas import parse
from app.schemas.management import EndpointCreate
from app.services.applications import create_application_endpoint, list_applications
from app.services.environments import list_environments
from app.services.test_events import send_test_event
from app.services.workspaces import create_endpoint
from app.web.dashboard import bp, signed_in

MAX_APPLICATIONS = 100


@bp.get("/endpoints/new")
def new_endpoint() -> str:
    with signed_in() as (db, workspace_id):
        return render_template(
            "dashboard/new_endpoint.html",
            workspace_id=workspace_id,
            environments=list_environments(db, workspace_id),
            applications=list_applications(db, workspace_id, MAX_APPLICATIONS, 0),
            chosen_application=request.args.get("application", ""),
        )


@bp.post("/endpoints")
def add_endpoint() -> Response:
    fields = {
        name: value
        for name in ("url", "description", "environmentId")
        if (value := request.form.get(name, "").strip())
    }
    spec = parse(EndpointCreate, fields)
    application_id = request.form.get("application", "")
    with signed_in() as (db, workspace_id):
        common: dict[str, Any] = {
            "url": spec.url,
            "description": spec.description,
            "environment_id": spec.environmentId,
            "allow_private": runtime().settings.allow_private_destinations,
        }
        if application_id:
            created = create_application_endpoint(db, workspace_id, application_id, **common)
        else:
            created = create_endpoint(db, workspace_id, **common)
    flash("Endpoint created.")
    return redirect(url_for("dashboard.show_endpoint", endpoint_id=created.id))


@bp.post("/endpoints/<endpoint_id>/test-event")
def send_test(endpoint_id: str) -> Response:
    with signed_in() as (db, workspace_id):
        delivery_id = send_test_event(
            db,
            workspace_id,
            endpoint_id,
            max_payload_bytes=runtime().settings.max_payload_bytes,
            now=utcnow(),
        )
    runtime().publisher.publish([delivery_id])  # after the commit, like every publish
    flash("Test event sent.")
    return redirect(url_for("dashboard.show_delivery", delivery_id=delivery_id))
