"""Fan-out by event type: one delivery per active endpoint subscribed to the type.

The subscribers of every event type of a batch are found in one statement; the deliveries
are then stored by `ingest` itself, so fan-out shares its single transaction, its
one-statement-per-kind inserts and its publish-after-commit.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, and_, select

from app.models import Endpoint, EventType, Subscription
from app.services.auth import KeyScope
from app.services.errors import NotFound, PayloadTooLarge
from app.services.ingest import IngestItem, ingest, serialize_payload


@dataclass
class EventItem:
    index: int
    event_type: str
    payload: dict[str, Any]


@dataclass
class EventOutcome:
    index: int
    event_type_id: str | None = None
    delivery_ids: list[str] = field(default_factory=list)
    # Why the item was refused: a ServiceError from here, or the caller's own (unparsable).
    error: Exception | None = None


def trigger(
    conn: Connection,
    api_key: KeyScope,
    items: list[EventItem],
    *,
    max_payload_bytes: int,
    now: datetime,
) -> list[EventOutcome]:
    """Store one delivery per subscriber of each item's event type, in the key's environment."""
    subscribers = _subscribers(conn, api_key, {item.event_type for item in items})
    outcomes = {item.index: EventOutcome(item.index) for item in items}
    owner: dict[int, int] = {}  # ingest item index -> event item index
    ingest_items: list[IngestItem] = []
    for item in items:
        outcome = outcomes[item.index]
        if len(serialize_payload(item.payload).encode()) > max_payload_bytes:
            outcome.error = PayloadTooLarge(f"payload exceeds {max_payload_bytes} bytes")
        elif item.event_type not in subscribers:
            outcome.error = NotFound(f"Event type '{item.event_type}'")
        else:
            outcome.event_type_id, endpoint_ids = subscribers[item.event_type]
            for endpoint_id in endpoint_ids:
                owner[len(ingest_items)] = item.index
                ingest_items.append(
                    IngestItem(
                        len(ingest_items), endpoint_id, item.payload, event_type=item.event_type
                    )
                )
    if ingest_items:
        stored = ingest(conn, api_key, ingest_items, max_payload_bytes=max_payload_bytes, now=now)
        for result in sorted(stored, key=lambda r: r.index):
            outcome = outcomes[owner[result.index]]
            if result.error is not None:
                outcome.error = outcome.error or result.error
            elif result.delivery_id is not None:
                outcome.delivery_ids.append(result.delivery_id)
    return [outcomes[item.index] for item in items]


def _subscribers(
    conn: Connection, api_key: KeyScope, names: set[str]
) -> dict[str, tuple[str, list[str]]]:
    """Event type name -> (id, active subscribed endpoints of the key's environment)."""
    rows = conn.execute(
        select(EventType.name, EventType.id, Endpoint.id)
        .outerjoin(Subscription, Subscription.event_type_id == EventType.id)
        .outerjoin(
            Endpoint,
            and_(
                Endpoint.id == Subscription.endpoint_id,
                Endpoint.environment_id == api_key.environment_id,
                Endpoint.is_active.is_(True),
            ),
        )
        .where(EventType.workspace_id == api_key.workspace_id, EventType.name.in_(names))
        .order_by(EventType.name, Endpoint.id)
    )
    found: dict[str, tuple[str, list[str]]] = {}
    for name, event_type_id, endpoint_id in rows:
        found.setdefault(name, (event_type_id, []))
        if endpoint_id is not None:
            found[name][1].append(endpoint_id)
    return found
