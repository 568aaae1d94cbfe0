"""Accepting payloads: validating each item, then storing the batch in one write.

A batch of 20 costs the same number of round trips as a single send: one endpoint lookup
(none when the caller looked the endpoint up with the key), one write (`storing.store`),
and a read of existing keys only when a key was live already.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, bindparam, select

from app import tracing
from app.ids import new_id
from app.models import Endpoint, IdempotencyKey
from app.services.auth import KeyScope
from app.services.errors import Conflict, Inconsistent, NotFound, PayloadTooLarge
from app.services.storing import NewDelivery, Shared, store

IDEMPOTENCY_WINDOW = timedelta(minutes=15)


@dataclass
class IngestItem:
    index: int
    endpoint_id: str
    payload: dict[str, Any]
    idempotency_key: str | None = None
    event_type: str | None = None


@dataclass
class ItemOutcome:
    index: int
    delivery_id: str | None = None
    idempotency_key: str | None = None
    # Why the item was refused: a ServiceError from here, or the caller's own (unparsable).
    error: Exception | None = None
    created: bool = False  # a new delivery that must be enqueued after the commit
    parked: bool = False  # created parked behind its endpoint's backlog: nothing to enqueue


@dataclass
class _Prepared:
    item: IngestItem
    key: str
    body: str
    fingerprint: str


def serialize_payload(payload: dict[str, Any]) -> str:
    """The exact bytes that will be signed and sent, fixed once at ingest."""
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False)


def _fingerprint(endpoint_id: str, payload: dict[str, Any]) -> str:
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(f"{endpoint_id}\n{canonical}".encode()).hexdigest()


def ingest(
    conn: Connection,
    api_key: KeyScope,
    items: list[IngestItem],
    *,
    max_payload_bytes: int,
    now: datetime,
    endpoints: set[str] | None = None,
    guard: bool = False,
) -> list[ItemOutcome]:
    """Store one delivery per valid item; per-item errors never affect the other items.

    `endpoints`: the items' endpoints already found in the key's environment, if the caller
    looked them up with the key (it must have asked for every item's endpoint). `guard`:
    the key and the endpoints were not read from the database but remembered, so the write
    checks them (`storing.Unverified` when they are gone).
    """
    outcomes = {item.index: ItemOutcome(index=item.index) for item in items}
    if endpoints is None:
        endpoints = _endpoints(conn, api_key, {item.endpoint_id for item in items})
    prepared: list[_Prepared] = []
    for item in items:
        body = serialize_payload(item.payload)
        if len(body.encode()) > max_payload_bytes:
            outcomes[item.index].error = PayloadTooLarge(
                f"payload exceeds {max_payload_bytes} bytes"
            )
        elif item.endpoint_id not in endpoints:
            outcomes[item.index].error = NotFound("Endpoint")
        else:
            key = item.idempotency_key or str(uuid.uuid4())
            prepared.append(
                _Prepared(item, key, body, _fingerprint(item.endpoint_id, item.payload))
            )
    if not prepared:
        return list(outcomes.values())

    new: dict[str, NewDelivery] = {}  # by key: a key repeated in a batch is stored once
    for prep in prepared:
        if prep.key not in new:
            new[prep.key] = NewDelivery(
                prep.key,
                new_id("del"),
                prep.fingerprint,
                prep.item.endpoint_id,
                prep.item.event_type,
                prep.body,
            )
    shared = Shared(
        api_key.workspace_id,
        api_key.environment_id,
        now,
        expires_at=now + IDEMPOTENCY_WINDOW,
        traceparent=tracing.ingest_traceparent(api_key.workspace_id),
        guard_key=api_key.id if guard else None,
    )
    claimed, parked = store(conn, shared, list(new.values()))
    existing = _existing_keys(conn, api_key.workspace_id, prepared, claimed)
    created: set[str] = set()
    for prep in prepared:
        outcome = outcomes[prep.item.index]
        outcome.idempotency_key = prep.key
        found = claimed.get(prep.key) or existing.get(prep.key)
        if found is None:  # the key row vanished between our two statements
            outcome.error = Inconsistent("idempotency key could not be read")
            continue
        delivery_id, fingerprint = found
        if fingerprint != prep.fingerprint:
            outcome.error = Conflict(
                "idempotency key already used with a different endpoint or payload"
            )
            continue
        outcome.delivery_id = delivery_id
        if prep.key in claimed and delivery_id not in created:
            outcome.created = True
            outcome.parked = delivery_id in parked
            created.add(delivery_id)
    return list(outcomes.values())


_ENDPOINTS = select(Endpoint.__table__.c.id).where(
    Endpoint.__table__.c.id.in_(bindparam("b_ids", expanding=True)),
    Endpoint.__table__.c.workspace_id == bindparam("b_workspace"),
    Endpoint.__table__.c.environment_id == bindparam("b_environment"),
)


def _endpoints(conn: Connection, api_key: KeyScope, ids: set[str]) -> set[str]:
    params = {
        "b_ids": list(ids),
        "b_workspace": api_key.workspace_id,
        "b_environment": api_key.environment_id,
    }
    return set(conn.scalars(_ENDPOINTS, params))


def _existing_keys(
    conn: Connection, workspace_id: str, prepared: list[_Prepared], claimed: dict[str, Any]
) -> dict[str, tuple[str, str]]:
    missing = {prep.key for prep in prepared} - claimed.keys()
    if not missing:
        return {}
    rows = conn.execute(
        select(IdempotencyKey.key, IdempotencyKey.delivery_id, IdempotencyKey.fingerprint).where(
            IdempotencyKey.workspace_id == workspace_id, IdempotencyKey.key.in_(missing)
        )
    )
    return {key: (delivery_id, fp) for key, delivery_id, fp in rows}
