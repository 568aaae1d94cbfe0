"""Ingest request bodies: sends to one endpoint and fan-out by event type."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from app.schemas.base import MAX_BATCH_ITEMS, Strict
from app.schemas.types import IdempotencyKey, Metadata, ResourceId

EVENT_TYPE_NAME = r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$"


class SendBody(Strict):
    payload: dict[str, Any]
    idempotencyKey: IdempotencyKey | None = None


class BatchItem(SendBody):
    endpointId: ResourceId


class BatchBody(Strict):
    """Only the envelope; each item is validated on its own so one bad item fails alone."""

    items: list[Any] = Field(min_length=1, max_length=MAX_BATCH_ITEMS)


class TriggerBody(Strict):
    payload: dict[str, Any]
    # Accepted and validated for SDK compatibility; deliveries do not store it.
    metadata: Metadata | None = None


class EventTypePath(Strict):
    """The `{eventType}` of `POST /api/ingest/event/{eventType}`."""

    event_type: str = Field(min_length=1, max_length=100, pattern=EVENT_TYPE_NAME)


class EventBatchItem(TriggerBody):
    eventType: str = Field(min_length=1, max_length=100, pattern=EVENT_TYPE_NAME)
