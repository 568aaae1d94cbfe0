"""Ingest API: `POST /api/ingest/{endpointId}` and `POST /api/ingest/batch`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Blueprint
from sqlalchemy.orm import Session

from app.api.context import accept, read_json, runtime
from app.api.spec import documented
from app.db import utcnow
from app.errors import APIError
from app.schemas import BatchBody, BatchItem, SendBody, item_error, parse
from app.schemas.responses import BatchResult, SendResult
from app.services.auth import KeyScope
from app.services.ingest import IngestItem, ItemOutcome, ingest

bp = Blueprint("ingest", __name__)


def _accept(
    build: Callable[[], tuple[list[IngestItem], list[ItemOutcome]]],
    endpoint_ids: tuple[str, ...] = (),
) -> list[ItemOutcome]:
    """Parse (after authenticating), store in one transaction, then publish what was created."""

    def work(
        session: Session, api_key: KeyScope, endpoints: set[str] | None
    ) -> tuple[list[ItemOutcome], list[str]]:
        items, outcomes = build()
        if items:
            outcomes += ingest(
                session,
                api_key,
                items,
                max_payload_bytes=runtime().settings.max_payload_bytes,
                now=utcnow(),
                endpoints=endpoints,
            )
        return outcomes, [o.delivery_id for o in outcomes if o.created and o.delivery_id]

    return sorted(accept(work, endpoint_ids), key=lambda o: o.index)


@bp.post("/api/ingest/<endpoint_id>")
@documented("Send a payload to one endpoint", body=SendBody, response=SendResult, status=202)
def send(endpoint_id: str) -> tuple[dict[str, Any], int]:
    def build() -> tuple[list[IngestItem], list[ItemOutcome]]:
        body = parse(SendBody, read_json())
        return [IngestItem(0, endpoint_id, body.payload, body.idempotencyKey)], []

    outcome = _accept(build, (endpoint_id,))[0]
    if outcome.error:
        raise outcome.error
    return {
        "deliveryId": outcome.delivery_id,
        "idempotencyKey": outcome.idempotency_key,
        "status": "accepted",
    }, 202


@bp.post("/api/ingest/batch")
@documented(
    "Send up to 20 payloads; each item succeeds or fails alone (207 when any failed)",
    body=BatchBody,
    response=BatchResult,
    status=202,
    also=(207,),
)
def send_batch() -> tuple[dict[str, Any], int]:
    def build() -> tuple[list[IngestItem], list[ItemOutcome]]:
        raw = parse(BatchBody, read_json()).items
        items, rejected = [], []
        for index, data in enumerate(raw):
            try:
                item = parse(BatchItem, data)
            except APIError as exc:
                rejected.append(ItemOutcome(index=index, error=exc))
                continue
            items.append(IngestItem(index, item.endpointId, item.payload, item.idempotencyKey))
        return items, rejected

    outcomes = _accept(build)
    status = 207 if any(o.error for o in outcomes) else 202
    return {"items": [_batch_item(o) for o in outcomes]}, status


def _batch_item(outcome: ItemOutcome) -> dict[str, Any]:
    if outcome.error:
        return {"index": outcome.index, "error": item_error(outcome.error)}
    return {
        "index": outcome.index,
        "deliveryId": outcome.delivery_id,
        "idempotencyKey": outcome.idempotency_key,
        "status": "accepted",
    }
