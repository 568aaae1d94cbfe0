"""Request and response schemas: they validate requests and generate the OpenAPI document."""

from app.schemas.base import MAX_BATCH_ITEMS, Strict, describe, parse
from app.schemas.ingest import BatchBody, BatchItem, EventBatchItem, SendBody, TriggerBody

__all__ = [
    "MAX_BATCH_ITEMS",
    "BatchBody",
    "BatchItem",
    "EventBatchItem",
    "SendBody",
    "Strict",
    "TriggerBody",
    "describe",
    "parse",
]
