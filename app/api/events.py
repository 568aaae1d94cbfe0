"""Fan-out ingest: `POST /api/ingest/event/{eventType}` and `POST /api/ingest/event/batch`."""

from __future__ import annotations

from typing import Any

from flask import Blueprint

from app.api.batch_items import BatchItems
from app.api.context import intake, read_json
from app.api.spec import documented
from app.schemas import BatchBody, EventBatchItem, TriggerBody, parse
from app.schemas.ingest import EventTypePath
from app.schemas.responses import BatchResult, TriggerResult
from app.services.fanout import EventItem, EventOutcome

bp = Blueprint("events", __name__)
Body = tuple[dict[str, Any], int]


@bp.post("/api/ingest/event/<event_type>")
@documented(
    "Fan a payload out to every endpoint subscribed to the event type",
    body=TriggerBody,
    response=TriggerResult,
    status=202,
    path=EventTypePath,
)
def trigger_event(event_type: str) -> Body:
    with intake() as req:
        body = parse(TriggerBody, read_json())
        parse(EventTypePath, {"event_type": event_type})
        [outcome] = req.trigger([EventItem(0, event_type, body.payload)])
    if outcome.error:
        raise outcome.error
    return _accepted(outcome), 202


@bp.post("/api/ingest/event/batch")
@documented(
    "Fan out up to 20 events; each item succeeds or fails alone (207 when any failed)",
    body=BatchBody,
    response=BatchResult,
    status=202,
    also=(207,),
)
def trigger_batch() -> Body:
    with intake() as req:
        batch = BatchItems(EventBatchItem, read_json())
        outcomes = req.trigger([EventItem(i, x.eventType, x.payload) for i, x in batch.parsed])
    return batch.answer(outcomes, _accepted)


def _accepted(outcome: EventOutcome) -> dict[str, Any]:
    return TriggerResult.accepted(outcome.event_type_id, outcome.delivery_ids)
