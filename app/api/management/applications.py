"""Applications (the workspace's customers), their endpoints and portal sessions."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from flask import request

from app.api.context import read_json, runtime
from app.api.management import NO_CONTENT, bp, workspace_session
from app.api.management.endpoints import endpoint_fields
from app.api.spec import documented
from app.db import iso, utcnow
from app.schemas import parse
from app.schemas.management import (
    AppEndpointCreate,
    ApplicationCreate,
    ApplicationUpdate,
    PageQuery,
    PortalBody,
)
from app.schemas.responses import ApplicationOut, EndpointOut, PortalSessionOut
from app.services import applications
from app.services.endpoints import list_endpoints

Body = tuple[Any, int]


@bp.get("/applications")
@documented("List applications, oldest first", query=PageQuery, response=ApplicationOut, many=True)
def list_applications(workspace_id: str) -> Body:
    with workspace_session(workspace_id) as session:
        page = parse(PageQuery, request.args.to_dict())
        found = applications.list_applications(session, workspace_id, page.limit, page.offset)
        return [ApplicationOut.from_row(a).body() for a in found], 200


@bp.post("/applications")
@documented("Create an application", body=ApplicationCreate, response=ApplicationOut, status=201)
def create_application(workspace_id: str) -> Body:
    with workspace_session(workspace_id) as session:
        spec = parse(ApplicationCreate, read_json())
        created = applications.create_application(
            session,
            workspace_id,
            name=spec.name,
            external_id=spec.externalId,
            metadata=spec.metadata,
            max_endpoints=spec.maxEndpoints,
            show_event_types=True if spec.showEventTypes is None else spec.showEventTypes,
        )
        return ApplicationOut.from_row(created).body(), 201


@bp.get("/applications/<app_id>")
@documented("Get an application", response=ApplicationOut)
def get_application(workspace_id: str, app_id: str) -> Body:
    with workspace_session(workspace_id) as session:
        found = applications.get_application(session, workspace_id, app_id)
        return ApplicationOut.from_row(found).body(), 200


@bp.patch("/applications/<app_id>")
@documented(
    "Change an application; `maxEndpoints: null` lifts the cap",
    body=ApplicationUpdate,
    response=ApplicationOut,
)
def update_application(workspace_id: str, app_id: str) -> Body:
    with workspace_session(workspace_id) as session:
        spec = parse(ApplicationUpdate, read_json())
        found = applications.update_application(session, workspace_id, app_id, spec.as_change())
        return ApplicationOut.from_row(found).body(), 200


@bp.delete("/applications/<app_id>")
@documented("Delete an application and its endpoints", status=204)
def delete_application(workspace_id: str, app_id: str) -> Body:
    with workspace_session(workspace_id) as session:
        applications.delete_application(session, workspace_id, app_id)
    return NO_CONTENT


@bp.get("/applications/<app_id>/endpoints")
@documented("List an application's endpoints", response=EndpointOut, many=True)
def list_application_endpoints(workspace_id: str, app_id: str) -> Body:
    with workspace_session(workspace_id) as session:
        found = applications.get_application(session, workspace_id, app_id)
        listed = list_endpoints(session, workspace_id, found.id)
        return [EndpointOut.from_row(e).body() for e in listed], 200


@bp.post("/applications/<app_id>/endpoints")
@documented(
    "Create an endpoint for an application, within its `maxEndpoints`",
    body=AppEndpointCreate,
    response=EndpointOut,
    status=201,
)
def create_application_endpoint(workspace_id: str, app_id: str) -> Body:
    with workspace_session(workspace_id) as session:
        spec = parse(AppEndpointCreate, read_json())
        endpoint = applications.create_application_endpoint(
            session, workspace_id, app_id, url=spec.url, **endpoint_fields(spec)
        )
        return EndpointOut.from_row(endpoint).body(), 201


@bp.post("/applications/<app_id>/portal")
@documented(
    "Open a portal session: a one-time code and the URL that redeems it",
    body=PortalBody,
    response=PortalSessionOut,
    status=201,
)
def create_portal_session(workspace_id: str, app_id: str) -> Body:
    with workspace_session(workspace_id) as session:
        spec = parse(PortalBody, read_json())
        issued = applications.create_portal_session(
            session,
            workspace_id,
            app_id,
            role=spec.role,
            metadata=spec.metadata,
            ttl=timedelta(minutes=spec.expiresInMinutes),
            now=utcnow(),
        )
    # The configured public URL, never a Host header the caller chose (embedded default aside).
    base = runtime().settings.web_public_url() or request.host_url.rstrip("/")
    url = f"{base}/portal?code={issued.code}"
    out = PortalSessionOut.model_construct(
        url=url, code=issued.code, expiresAt=iso(issued.expires_at)
    )
    return out.body(), 201
