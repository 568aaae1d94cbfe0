"""Ingest API: `POST /api/ingest/{endpointId}` and `POST /api/ingest/batch`."""

from __future__ import annotations

from typing import Any

from flask import Blueprint

from app.api.batch_items import BatchItems
from app.api.context import intake, read_json
from app.api.spec import documented
from app.schemas import BatchBody, BatchItem, SendBody, parse
from app.schemas.responses import BatchResult, SendResult
from app.services.ingest import IngestItem, ItemOutcome

bp = Blueprint("ingest", __name__)
Body = tuple[dict[str, Any], int]


@bp.post("/api/ingest/<endpoint_id>")
@documented("Send a payload to one endpoint", body=SendBody, response=SendResult, status=202)
def send(endpoint_id: str) -> Body:
    with intake(endpoint_ids=(endpoint_id,)) as req:
        body = parse(SendBody, read_json())
        [outcome] = req.ingest([IngestItem(0, endpoint_id, body.payload, body.idempotencyKey)])
    if outcome.error:
        raise outcome.error
    return _accepted(outcome), 202


@bp.post("/api/ingest/batch")
@documented(
    "Send up to 20 payloads; each item succeeds or fails alone (207 when any failed)",
    body=BatchBody,
    response=BatchResult,
    status=202,
    also=(207,),
)
def send_batch() -> Body:
    with intake() as req:
        batch = BatchItems(BatchItem, read_json())
        outcomes = req.ingest(
            [IngestItem(i, x.endpointId, x.payload, x.idempotencyKey) for i, x in batch.parsed]
        )
    return batch.answer(outcomes, _accepted)


def _accepted(outcome: ItemOutcome) -> dict[str, Any]:
    return SendResult.accepted(outcome.delivery_id, outcome.idempotency_key)
