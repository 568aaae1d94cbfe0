"""Environments and the event types each one publishes."""

from __future__ import annotations

from typing import Any

from app.api.context import read_json
from app.api.management import NO_CONTENT, bp, workspace_session
from app.api.spec import documented
from app.schemas import parse
from app.schemas.management import EnvironmentCreate, EnvironmentUpdate, VisibilityBody
from app.schemas.responses import EnvironmentOut, VisibilityOut
from app.services import environments

Body = tuple[Any, int]


@bp.get("/environments")
@documented("List environments, the default one first", response=EnvironmentOut, many=True)
def list_environments(workspace_id: str) -> Body:
    with workspace_session(workspace_id) as session:
        found = environments.list_environments(session, workspace_id)
        return [EnvironmentOut.from_row(e).body() for e in found], 200


@bp.post("/environments")
@documented(
    "Create an environment; slugs are unique per workspace",
    body=EnvironmentCreate,
    response=EnvironmentOut,
    status=201,
)
def create_environment(workspace_id: str) -> Body:
    with workspace_session(workspace_id) as session:
        spec = parse(EnvironmentCreate, read_json())
        created = environments.create_environment(session, workspace_id, spec.name, spec.slug)
        return EnvironmentOut.from_row(created).body(), 201


@bp.get("/environments/<environment_id>")
@documented("Get an environment", response=EnvironmentOut)
def get_environment(workspace_id: str, environment_id: str) -> Body:
    with workspace_session(workspace_id) as session:
        found = environments.get_environment(session, workspace_id, environment_id)
        return EnvironmentOut.from_row(found).body(), 200


@bp.patch("/environments/<environment_id>")
@documented("Rename an environment", body=EnvironmentUpdate, response=EnvironmentOut)
def update_environment(workspace_id: str, environment_id: str) -> Body:
    with workspace_session(workspace_id) as session:
        spec = parse(EnvironmentUpdate, read_json())
        found = environments.get_environment(session, workspace_id, environment_id)
        if spec.name is not None:
            found.name = spec.name
        session.flush()
        return EnvironmentOut.from_row(found).body(), 200


@bp.delete("/environments/<environment_id>")
@documented("Delete a non-default environment with its keys, endpoints and deliveries", status=204)
def delete_environment(workspace_id: str, environment_id: str) -> Body:
    with workspace_session(workspace_id) as session:
        environments.delete_environment(session, workspace_id, environment_id)
    return NO_CONTENT


@bp.get("/environments/<environment_id>/event-types")
@documented(
    "Whether each event type is published in the environment", response=VisibilityOut, many=True
)
def list_visibility(workspace_id: str, environment_id: str) -> Body:
    with workspace_session(workspace_id) as session:
        rows = environments.list_visibility(session, workspace_id, environment_id)
        return [VisibilityOut.from_row(e, p).body() for e, p in rows], 200


@bp.put("/environments/<environment_id>/event-types/<event_type_id>/visibility")
@documented(
    "Publish or hide an event type in the environment", body=VisibilityBody, response=VisibilityOut
)
def set_visibility(workspace_id: str, environment_id: str, event_type_id: str) -> Body:
    with workspace_session(workspace_id) as session:
        spec = parse(VisibilityBody, read_json())
        event_type = environments.set_visibility(
            session, workspace_id, environment_id, event_type_id, spec.published
        )
        return VisibilityOut.from_row(event_type, spec.published).body(), 200
