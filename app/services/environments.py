"""Environments (slug unique per workspace) and which event types each one publishes."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.ids import new_id
from app.models import Environment, EventType, EventTypeVisibility
from app.services.errors import Conflict
from app.services.lookup import owned


def list_environments(session: Session, workspace_id: str) -> list[Environment]:
    return list(
        session.scalars(
            select(Environment)
            .where(Environment.workspace_id == workspace_id)
            .order_by(Environment.created_at, Environment.id)
        )
    )


def create_environment(session: Session, workspace_id: str, name: str, slug: str) -> Environment:
    """The unique (workspace, slug) constraint settles concurrent creations."""
    environment = Environment(
        id=new_id("env"), workspace_id=workspace_id, name=name, slug=slug, is_default=False
    )
    try:
        with session.begin_nested():
            session.add(environment)
    except IntegrityError as exc:
        raise Conflict(f"an environment with slug '{slug}' exists") from exc
    return environment


def get_environment(session: Session, workspace_id: str, environment_id: str) -> Environment:
    return owned(session, Environment, workspace_id, environment_id, "Environment")


def delete_environment(session: Session, workspace_id: str, environment_id: str) -> None:
    """Its API keys, endpoints and deliveries go with it; the default one stays."""
    environment = get_environment(session, workspace_id, environment_id)
    if environment.is_default:
        raise Conflict("the default environment cannot be deleted")
    session.delete(environment)
    session.flush()


def list_visibility(
    session: Session, workspace_id: str, environment_id: str
) -> list[tuple[EventType, bool]]:
    """Every event type of the workspace; one never set is not published."""
    get_environment(session, workspace_id, environment_id)
    rows = session.execute(
        select(EventType, EventTypeVisibility.published)
        .outerjoin(
            EventTypeVisibility,
            (EventTypeVisibility.event_type_id == EventType.id)
            & (EventTypeVisibility.environment_id == environment_id),
        )
        .where(EventType.workspace_id == workspace_id)
        .order_by(EventType.id)
    )
    return [(event_type, bool(published)) for event_type, published in rows]


def set_visibility(
    session: Session, workspace_id: str, environment_id: str, event_type_id: str, published: bool
) -> EventType:
    """An upsert, so concurrent PUTs of the same pair never collide."""
    get_environment(session, workspace_id, environment_id)
    event_type = owned(session, EventType, workspace_id, event_type_id, "Event type")
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    stmt = dialect.insert(EventTypeVisibility).values(
        environment_id=environment_id, event_type_id=event_type_id, published=published
    )
    session.execute(
        stmt.on_conflict_do_update(
            index_elements=["environment_id", "event_type_id"], set_={"published": published}
        )
    )
    return event_type
