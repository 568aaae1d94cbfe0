"""Accepting payloads: one transaction per request, one statement per kind, whatever the size.

A batch of 20 costs the same number of round trips as a single send: one endpoint lookup,
one idempotency upsert, at most one read of existing keys, one multi-row delivery insert.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from app import tracing
from app.db import UTCDateTime
from app.domain import DeliveryStatus
from app.ids import new_id
from app.models import Delivery, Endpoint, IdempotencyKey
from app.services.auth import KeyScope
from app.services.errors import Conflict, Inconsistent, NotFound, PayloadTooLarge

IDEMPOTENCY_WINDOW = timedelta(minutes=15)
_INSERT_DELIVERIES = Delivery.__table__.insert()


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
    session: Session,
    api_key: KeyScope,
    items: list[IngestItem],
    *,
    max_payload_bytes: int,
    now: datetime,
    endpoints: set[str] | None = None,
) -> list[ItemOutcome]:
    """Store one delivery per valid item; per-item errors never affect the other items.

    `endpoints`: the items' endpoints already found in the key's environment, if the caller
    looked them up with the key (it must have asked for every item's endpoint).
    """
    outcomes = {item.index: ItemOutcome(index=item.index) for item in items}
    if endpoints is None:
        endpoints = _endpoints(session, api_key, {item.endpoint_id for item in items})
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

    traceparent = tracing.ingest_traceparent(api_key.workspace_id)
    claimed = _claim_keys(session, api_key.workspace_id, prepared, now)
    existing = _existing_keys(session, api_key.workspace_id, prepared, claimed)
    rows: list[dict[str, Any]] = []
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
        if prep.key in claimed and not any(r["id"] == delivery_id for r in rows):
            outcome.created = True
            rows.append(_delivery_row(api_key, prep, delivery_id, now))
            if traceparent is not None:
                rows[-1]["traceparent"] = traceparent
    if rows:
        session.connection().execute(_INSERT_DELIVERIES, rows)
    return list(outcomes.values())


_ENDPOINTS = select(Endpoint.__table__.c.id).where(
    Endpoint.__table__.c.id.in_(bindparam("b_ids", expanding=True)),
    Endpoint.__table__.c.workspace_id == bindparam("b_workspace"),
    Endpoint.__table__.c.environment_id == bindparam("b_environment"),
)


def _endpoints(session: Session, api_key: KeyScope, ids: set[str]) -> set[str]:
    params = {
        "b_ids": list(ids),
        "b_workspace": api_key.workspace_id,
        "b_environment": api_key.environment_id,
    }
    return set(session.connection().scalars(_ENDPOINTS, params))


@cache
def _claim_statement(dialect_name: str) -> Any:
    """The idempotency upsert, built once per dialect: building it cost more than running it.

    An expired key (older than the window) is taken over in the same statement.
    """
    keys = IdempotencyKey.__table__
    dialect = postgresql if dialect_name == "postgresql" else sqlite
    stmt = dialect.insert(keys)
    return stmt.on_conflict_do_update(
        index_elements=["workspace_id", "key"],
        set_={
            "delivery_id": stmt.excluded.delivery_id,
            "fingerprint": stmt.excluded.fingerprint,
            "expires_at": stmt.excluded.expires_at,
        },
        where=keys.c.expires_at <= bindparam("b_now", type_=UTCDateTime()),
    ).returning(keys.c.key, keys.c.delivery_id, keys.c.fingerprint)


def _claim_keys(
    session: Session, workspace_id: str, prepared: list[_Prepared], now: datetime
) -> dict[str, tuple[str, str]]:
    """Insert every key not live yet; the primary key, not a prior read, settles races."""
    rows: dict[str, dict[str, Any]] = {}
    for prep in prepared:
        rows.setdefault(
            prep.key,
            {
                "workspace_id": workspace_id,
                "key": prep.key,
                "delivery_id": new_id("del"),
                "fingerprint": prep.fingerprint,
                "expires_at": now + IDEMPOTENCY_WINDOW,
                "b_now": now,
            },
        )
    conn = session.connection()
    # Rows as executemany parameters, not `.values(rows)`: SQLAlchemy still sends a single
    # multi-row INSERT, but the statement is compiled once and cached, not on every request.
    # On the connection, not the session: the ORM's bulk-insert path adds nothing here.
    result = conn.execute(_claim_statement(conn.dialect.name), list(rows.values()))
    return {key: (delivery_id, fp) for key, delivery_id, fp in result}


def _existing_keys(
    session: Session, workspace_id: str, prepared: list[_Prepared], claimed: dict[str, Any]
) -> dict[str, tuple[str, str]]:
    missing = {prep.key for prep in prepared} - claimed.keys()
    if not missing:
        return {}
    rows = session.execute(
        select(IdempotencyKey.key, IdempotencyKey.delivery_id, IdempotencyKey.fingerprint).where(
            IdempotencyKey.workspace_id == workspace_id, IdempotencyKey.key.in_(missing)
        )
    )
    return {key: (delivery_id, fp) for key, delivery_id, fp in rows}


def _delivery_row(
    api_key: KeyScope, prep: _Prepared, delivery_id: str, now: datetime
) -> dict[str, Any]:
    return {
        "id": delivery_id,
        "workspace_id": api_key.workspace_id,
        "environment_id": api_key.environment_id,
        "endpoint_id": prep.item.endpoint_id,
        "idempotency_key": prep.key,
        "event_type": prep.item.event_type,
        "payload": prep.body,
        "status": DeliveryStatus.PENDING,
        "attempts": 0,
        "next_attempt_at": now,
        # Marked as enqueued before the publish that follows the commit; if that publish is
        # lost, the scheduler finds the row again once `requeue_after` has passed.
        "enqueued_at": now,
        "created_at": now,
        "updated_at": now,
    }
