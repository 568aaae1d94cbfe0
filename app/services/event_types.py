"""Event types and which endpoints subscribe to them."""

from __future__ import annotations

from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.ids import new_id
from app.models import Endpoint, EventType, Subscription
from app.services.errors import Conflict, NotFound
from app.services.lookup import owned


def create_event_type(
    session: Session, workspace_id: str, name: str, description: str | None
) -> EventType:
    """The unique constraint, not a prior read, settles two concurrent creations."""
    event_type = EventType(
        id=new_id("evt"), workspace_id=workspace_id, name=name, description=description
    )
    try:
        with session.begin_nested():
            session.add(event_type)
    except IntegrityError as exc:
        raise Conflict(f"an event type named '{name}' already exists") from exc
    return event_type


def list_event_types(session: Session, workspace_id: str) -> list[tuple[EventType, int]]:
    """Each event type with its subscriber count, in one statement."""
    counts = (
        select(Subscription.event_type_id, func.count().label("n"))
        .join(EventType, EventType.id == Subscription.event_type_id)
        .where(EventType.workspace_id == workspace_id)
        .group_by(Subscription.event_type_id)
        .subquery()
    )
    rows = session.execute(
        select(EventType, func.coalesce(counts.c.n, 0))
        .outerjoin(counts, counts.c.event_type_id == EventType.id)
        .where(EventType.workspace_id == workspace_id)
        .order_by(EventType.id)
    )
    return [(event_type, int(n)) for event_type, n in rows]


def subscriber_count(session: Session, event_type_id: str) -> int:
    count = session.scalar(select(func.count()).where(Subscription.event_type_id == event_type_id))
    return int(count or 0)


def get_event_type(session: Session, workspace_id: str, event_type_id: str) -> EventType:
    return owned(session, EventType, workspace_id, event_type_id, "Event type")


def delete_event_type(session: Session, workspace_id: str, event_type_id: str) -> None:
    """Subscriptions and visibility settings go with it (foreign keys cascade)."""
    session.delete(get_event_type(session, workspace_id, event_type_id))
    session.flush()


def list_subscriptions(
    session: Session, workspace_id: str, endpoint_id: str
) -> list[tuple[Subscription, str]]:
    owned(session, Endpoint, workspace_id, endpoint_id, "Endpoint")
    rows = session.execute(
        select(Subscription, EventType.name)
        .join(EventType, EventType.id == Subscription.event_type_id)
        .where(Subscription.endpoint_id == endpoint_id)
        .order_by(Subscription.id)
    )
    return [(subscription, name) for subscription, name in rows]


def subscribe(
    session: Session, workspace_id: str, endpoint_id: str, event_type_ids: list[str]
) -> int:
    """Subscribe to every given type; return how many subscriptions are new."""
    owned(session, Endpoint, workspace_id, endpoint_id, "Endpoint")
    wanted = set(event_type_ids)
    known = set(
        session.scalars(
            select(EventType.id).where(
                EventType.workspace_id == workspace_id, EventType.id.in_(wanted)
            )
        )
    )
    if missing := sorted(wanted - known):
        raise NotFound(f"Event type {', '.join(missing)}")
    present = set(
        session.scalars(
            select(Subscription.event_type_id).where(Subscription.endpoint_id == endpoint_id)
        )
    )
    new = sorted(wanted - present)
    session.add_all(
        Subscription(id=new_id("sub"), endpoint_id=endpoint_id, event_type_id=event_type_id)
        for event_type_id in new
    )
    try:
        session.flush()
    except IntegrityError as exc:  # a concurrent request subscribed the same pair first
        raise Conflict("subscriptions changed concurrently; retry") from exc
    return len(new)


def unsubscribe(session: Session, workspace_id: str, endpoint_id: str, event_type_id: str) -> None:
    owned(session, Endpoint, workspace_id, endpoint_id, "Endpoint")
    removed = session.execute(
        delete(Subscription).where(
            Subscription.endpoint_id == endpoint_id, Subscription.event_type_id == event_type_id
        )
    )
    if not removed.rowcount:  # type: ignore[attr-defined]
        raise NotFound("Subscription")


def subscribers(session: Session, workspace_id: str, event_type_id: str) -> list[Endpoint]:
    """The endpoints subscribed to the event type, oldest first."""
    get_event_type(session, workspace_id, event_type_id)
    return list(
        session.scalars(
            select(Endpoint)
            .join(Subscription, Subscription.endpoint_id == Endpoint.id)
            .where(Subscription.event_type_id == event_type_id)
            .order_by(Endpoint.id)
        )
    )
