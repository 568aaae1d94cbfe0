"""Event types: the names that `trigger` fans out by."""

from __future__ import annotations

from typing import Any

from app.api.context import read_json
from app.api.management import NO_CONTENT, bp, workspace_session
from app.api.spec import documented
from app.schemas import parse
from app.schemas.management import EventTypeCreate, EventTypeUpdate
from app.schemas.responses import EventTypeOut
from app.services import event_types

Body = tuple[Any, int]


@bp.get("/event-types")
@documented("List event types with their subscriber counts", response=EventTypeOut, many=True)
def list_event_types(workspace_id: str) -> Body:
    with workspace_session(workspace_id) as session:
        rows = event_types.list_event_types(session, workspace_id)
        return [EventTypeOut.from_row(e, n).body() for e, n in rows], 200


@bp.post("/event-types")
@documented(
    "Create an event type; names are unique per workspace",
    body=EventTypeCreate,
    response=EventTypeOut,
    status=201,
)
def create_event_type(workspace_id: str) -> Body:
    with workspace_session(workspace_id) as session:
        spec = parse(EventTypeCreate, read_json())
        created = event_types.create_event_type(session, workspace_id, spec.name, spec.description)
        return EventTypeOut.from_row(created, 0).body(), 201


@bp.get("/event-types/<event_type_id>")
@documented("Get an event type", response=EventTypeOut)
def get_event_type(workspace_id: str, event_type_id: str) -> Body:
    with workspace_session(workspace_id) as session:
        found = event_types.get_event_type(session, workspace_id, event_type_id)
        count = event_types.subscriber_count(session, found.id)
        return EventTypeOut.from_row(found, count).body(), 200


@bp.patch("/event-types/<event_type_id>")
@documented("Change an event type's description", body=EventTypeUpdate, response=EventTypeOut)
def update_event_type(workspace_id: str, event_type_id: str) -> Body:
    with workspace_session(workspace_id) as session:
        spec = parse(EventTypeUpdate, read_json())
        found = event_types.get_event_type(session, workspace_id, event_type_id)
        if "description" in spec.model_fields_set:
            found.description = spec.description
        session.flush()
        count = event_types.subscriber_count(session, found.id)
        return EventTypeOut.from_row(found, count).body(), 200


@bp.delete("/event-types/<event_type_id>")
@documented("Delete an event type and its subscriptions", status=204)
def delete_event_type(workspace_id: str, event_type_id: str) -> Body:
    with workspace_session(workspace_id) as session:
        event_types.delete_event_type(session, workspace_id, event_type_id)
    return NO_CONTENT
