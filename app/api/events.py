"""Fan-out ingest: `POST /api/ingest/event/{eventType}` and `POST /api/ingest/event/batch`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Blueprint
from sqlalchemy.orm import Session

from app.api.context import accept, read_json, runtime
from app.api.spec import documented
from app.db import utcnow
from app.errors import APIError
from app.schemas import BatchBody, EventBatchItem, TriggerBody, item_error, parse
from app.schemas.ingest import EventTypePath
from app.schemas.responses import BatchResult, TriggerResult
from app.services.auth import KeyScope
from app.services.fanout import EventItem, EventOutcome, trigger

bp = Blueprint("events", __name__)


def _trigger(build: Callable[[], tuple[list[EventItem], list[EventOutcome]]]) -> list[EventOutcome]:
    def work(
        session: Session, api_key: KeyScope, _endpoints: set[str] | None
    ) -> tuple[list[EventOutcome], list[str]]:
        items, outcomes = build()
        if items:
            outcomes += trigger(
                session,
                api_key,
                items,
                max_payload_bytes=runtime().settings.max_payload_bytes,
                now=utcnow(),
            )
        return outcomes, [d for o in outcomes for d in o.delivery_ids]

    return sorted(accept(work), key=lambda o: o.index)


@bp.post("/api/ingest/event/<event_type>")
@documented(
    "Fan a payload out to every endpoint subscribed to the event type",
    body=TriggerBody,
    response=TriggerResult,
    status=202,
    path=EventTypePath,
)
def trigger_event(event_type: str) -> tuple[dict[str, Any], int]:
    def build() -> tuple[list[EventItem], list[EventOutcome]]:
        body = parse(TriggerBody, read_json())
        parse(EventTypePath, {"event_type": event_type})
        return [EventItem(0, event_type, body.payload)], []

    outcome = _trigger(build)[0]
    if outcome.error:
        raise outcome.error
    return {
        "eventTypeId": outcome.event_type_id,
        "deliveryIds": outcome.delivery_ids,
        "status": "accepted",
    }, 202


@bp.post("/api/ingest/event/batch")
@documented(
    "Fan out up to 20 events; each item succeeds or fails alone (207 when any failed)",
    body=BatchBody,
    response=BatchResult,
    status=202,
    also=(207,),
)
def trigger_batch() -> tuple[dict[str, Any], int]:
    def build() -> tuple[list[EventItem], list[EventOutcome]]:
        items, rejected = [], []
        for index, data in enumerate(parse(BatchBody, read_json()).items):
            try:
                item = parse(EventBatchItem, data)
            except APIError as exc:
                rejected.append(EventOutcome(index, error=exc))
                continue
            items.append(EventItem(index, item.eventType, item.payload))
        return items, rejected

    outcomes = _trigger(build)
    status = 207 if any(o.error for o in outcomes) else 202
    return {"items": [_batch_item(o) for o in outcomes]}, status


def _batch_item(outcome: EventOutcome) -> dict[str, Any]:
    if outcome.error:
        return {"index": outcome.index, "error": item_error(outcome.error)}
    return {
        "index": outcome.index,
        "eventTypeId": outcome.event_type_id,
        "deliveryIds": outcome.delivery_ids,
        "status": "accepted",
    }
