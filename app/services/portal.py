"""The customer portal's side of the store: redeem a one-time code, scope every read to one
application, and its subscriptions to the event types its environment publishes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from app.ids import hash_token
from app.models import Application, Delivery, Endpoint, EventType, PortalSession, Subscription
from app.services.environments import list_visibility
from app.services.errors import NotFound
from app.services.event_types import subscribe
from app.services.workspaces import default_environment

RECENT = 50


@dataclass(frozen=True)
class Grant:
    """What a redeemed code lets the browser see: one application, until `expires_at`."""

    workspace_id: str
    application_id: str
    role: str
    expires_at: datetime

    @property
    def can_edit(self) -> bool:
        return self.role != "viewer"


def redeem(session: Session, code: str, now: datetime) -> Grant | None:
    """Spend a portal code: one conditional UPDATE, so a code works once even under a race."""
    sessions = PortalSession.__table__
    row = session.execute(
        update(sessions)
        .where(
            sessions.c.code_hash == hash_token(code),
            sessions.c.used_at.is_(None),
            sessions.c.expires_at > now,
        )
        .values(used_at=now)
        .returning(sessions.c.application_id, sessions.c.role, sessions.c.expires_at)
    ).first()
    if row is None:
        return None
    application = session.get(Application, row.application_id)
    if application is None:
        return None
    return Grant(application.workspace_id, application.id, row.role, row.expires_at)


def application(session: Session, grant: Grant) -> Application:
    found = session.get(Application, grant.application_id)
    if found is None:
        raise NotFound("Application")
    return found


def endpoints(session: Session, grant: Grant) -> list[Endpoint]:
    stmt = select(Endpoint).where(Endpoint.application_id == grant.application_id)
    return list(session.scalars(stmt.order_by(Endpoint.id)))


def endpoint(session: Session, grant: Grant, endpoint_id: str) -> Endpoint:
    """One of the application's endpoints; anything else is not found."""
    found = session.get(Endpoint, endpoint_id)
    if found is None or found.application_id != grant.application_id:
        raise NotFound("Endpoint")
    return found


def published_event_types(session: Session, grant: Grant) -> list[EventType]:
    """The event types the application's environment publishes for subscription."""
    environment = default_environment(session, grant.workspace_id)
    rows = list_visibility(session, grant.workspace_id, environment.id)
    return [event_type for event_type, published in rows if published]


def subscribed_ids(session: Session, endpoint_id: str) -> set[str]:
    stmt = select(Subscription.event_type_id).where(Subscription.endpoint_id == endpoint_id)
    return set(session.scalars(stmt))


def set_subscriptions(session: Session, grant: Grant, endpoint_id: str, wanted: set[str]) -> None:
    """Subscribe to exactly `wanted`, limited to published types (others are ignored)."""
    allowed = {e.id for e in published_event_types(session, grant)}
    wanted &= allowed
    current = subscribed_ids(session, endpoint_id)
    if wanted - current:
        subscribe(session, grant.workspace_id, endpoint_id, sorted(wanted - current))
    if gone := (current - wanted) & allowed:
        session.execute(
            delete(Subscription).where(
                Subscription.endpoint_id == endpoint_id, Subscription.event_type_id.in_(gone)
            )
        )


def recent_deliveries(session: Session, grant: Grant) -> list[Delivery]:
    mine = select(Endpoint.id).where(Endpoint.application_id == grant.application_id)
    stmt = select(Delivery).where(Delivery.endpoint_id.in_(mine))
    return list(session.scalars(stmt.order_by(Delivery.id.desc()).limit(RECENT)))


def delivery(session: Session, grant: Grant, delivery_id: str) -> Delivery:
    found = session.get(Delivery, delivery_id)
    if found is None:
        raise NotFound("Delivery")
    endpoint(session, grant, found.endpoint_id)  # 404 unless it is one of the application's
    return found
