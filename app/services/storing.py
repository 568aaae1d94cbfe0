"""Writing accepted deliveries: each new idempotency key and its delivery, both or neither.

`store` claims every key that is not live yet (an expired one is taken over) and inserts the
delivery of each key it claimed; a key that is live stays as it is, and the caller reads it.

On PostgreSQL it is a single statement (the claim and the insert as data-modifying CTEs over
the request's rows), so it is atomic on its own: the ingest routes run in autocommit and
spend no round trips on BEGIN and COMMIT. SQLite has no data-modifying CTEs; there it is two
statements, inside the caller's transaction.

On PostgreSQL, a write for a request whose API key was not read from the database
(`auth.KnownKeys`) is guarded: the one statement stores nothing, and `store` raises
`Unverified`, unless the key is still live and every row's endpoint is still in its
environment.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from functools import cache, lru_cache
from typing import Any, NamedTuple

from sqlalchemy import Connection, bindparam, select, text
from sqlalchemy.dialects import sqlite
from sqlalchemy.dialects.postgresql import psycopg

from app import driver
from app.db import UTCDateTime
from app.domain import DeliveryStatus
from app.models import Delivery, IdempotencyKey

Claimed = dict[str, tuple[str, str]]  # key -> (delivery id, fingerprint)


class Stored(NamedTuple):
    """The keys claimed, and which of their deliveries were stored parked: queued behind
    their endpoint's parked deliveries, to go when a slot frees, with no message to publish."""

    claimed: Claimed
    parked: set[str]


class NewDelivery(NamedTuple):
    """One delivery to create, under the idempotency key that will point to it (its fields
    in the order of the statement's `item` columns)."""

    key: str
    delivery_id: str
    fingerprint: str
    endpoint_id: str
    event_type: str | None
    payload: str  # the exact bytes that will be signed and sent


@dataclass(frozen=True)
class Shared:
    """What every row of one request has in common."""

    workspace_id: str
    environment_id: str
    now: datetime  # created, due and (see below) enqueued at
    expires_at: datetime  # of the keys claimed
    traceparent: str | None  # of the ingest request, when tracing is on
    guard_key: str | None = None  # an API key to find live before writing (PostgreSQL)


class Unverified(Exception):
    """The guard key is revoked or gone, or an endpoint left its environment: nothing stored."""


def store(conn: Connection, shared: Shared, new: list[NewDelivery]) -> Stored:
    """Claim each key of `new` (unique keys) and insert its delivery; return the claimed keys.

    A key left out of the answer was live already: its delivery is not inserted. Each
    delivery is marked as enqueued already, for the publish that follows the write; if that
    publish is lost, the scheduler finds the row again once `requeue_after` has passed.

    A delivery to an endpoint that has parked deliveries (it is full, or blocked) is stored
    parked behind them: it goes in its turn when a finished attempt relays a slot to it or
    the scheduler wakes it, and needs no message. So a burst to one endpoint queues in the
    database, not in the broker ahead of every other endpoint's deliveries.
    """
    if conn.dialect.name == "postgresql":
        return _store_postgresql(conn, shared, new)
    return _store_sqlite(conn, shared, new)


_STORE_POSTGRESQL = """
WITH item (key, delivery_id, fingerprint, endpoint_id, event_type, payload) AS (
    {items}
){guard}, claimed AS (
    INSERT INTO idempotency_keys (workspace_id, key, delivery_id, fingerprint, expires_at)
    SELECT :workspace_id, key, delivery_id, fingerprint, :expires_at FROM item{guarded}
    ON CONFLICT (workspace_id, key) DO UPDATE
        SET delivery_id = excluded.delivery_id,
            fingerprint = excluded.fingerprint,
            expires_at = excluded.expires_at
        WHERE idempotency_keys.expires_at <= :now
    RETURNING key, delivery_id, fingerprint
), stored AS (
    INSERT INTO deliveries (
        id, workspace_id, environment_id, endpoint_id, idempotency_key, event_type, payload,
        status, attempts, next_attempt_at, enqueued_at, created_at, updated_at, traceparent,
        parked_at
    )
    SELECT delivery_id, :workspace_id, :environment_id, endpoint_id, key, event_type, payload,
        :status, 0, :now, :now, :now, :now, :traceparent, CASE WHEN EXISTS (
            SELECT 1 FROM deliveries AS p
            WHERE p.endpoint_id = item.endpoint_id AND p.parked_at IS NOT NULL
        ) THEN CAST(:now AS timestamptz) END
    FROM item WHERE delivery_id IN (SELECT delivery_id FROM claimed)
    RETURNING id, parked_at
)
SELECT key, delivery_id, fingerprint, parked_at IS NOT NULL
FROM claimed LEFT JOIN stored ON stored.id = claimed.delivery_id{refused}
"""
# The guard: the key is live, and no row's endpoint is missing from the key's environment.
_GUARD = """, guard AS (
    SELECT 1 FROM api_keys AS k
    WHERE k.id = :guard_key AND k.revoked_at IS NULL AND NOT EXISTS (
        SELECT 1 FROM item WHERE NOT EXISTS (
            SELECT 1 FROM endpoints AS e
            WHERE e.id = item.endpoint_id
                AND e.workspace_id = k.workspace_id AND e.environment_id = k.environment_id
        )
    )
)"""
_GUARDED = {
    False: {"guard": "", "guarded": "", "refused": ""},
    True: {
        "guard": _GUARD,
        "guarded": " WHERE EXISTS (SELECT 1 FROM guard)",
        # One row of NULLs says the guard refused (no row claimed can say it: a live key).
        "refused": "\nUNION ALL SELECT NULL, NULL, NULL, NULL"
        " WHERE NOT EXISTS (SELECT 1 FROM guard)",
    },
}
_ITEM = NewDelivery._fields
# Up to this many rows go as scalar parameters, the cheapest to send; more go as one array
# per column, since a statement takes at most 65,535 parameters (a large fan-out).
VALUES_ROWS = 100
_PSYCOPG = psycopg.dialect()  # DATABASE_URL always names psycopg 3 (app.config)
_UNNEST = "SELECT * FROM unnest(" + ", ".join(f"CAST(:{name} AS text[])" for name in _ITEM) + ")"


@lru_cache(maxsize=2 * VALUES_ROWS + 2)
def _statement(rows: int | None, guarded: bool) -> str:
    """The statement for `rows` rows as VALUES, one per row count (the server prepares each),
    or for any number as arrays (`rows` None).

    Compiled once to psycopg's own parameter style: that skips SQLAlchemy's processing of
    each parameter at every execution, about a fifth of the statement's CPU in the web
    process (docs/performance.md, round 13); run on psycopg's cursor (`driver.fetch`).
    """
    items = _UNNEST
    if rows is not None:
        tuples = (", ".join(f":{name}_{i}" for name in _ITEM) for i in range(rows))
        items = "VALUES " + ", ".join(f"({t})" for t in tuples)
    statement = text(_STORE_POSTGRESQL.format(items=items, **_GUARDED[guarded]))
    return str(statement.compile(dialect=_PSYCOPG))


def _store_postgresql(conn: Connection, shared: Shared, new: list[NewDelivery]) -> Stored:
    params: dict[str, Any] = {
        "workspace_id": shared.workspace_id,
        "environment_id": shared.environment_id,
        "now": shared.now,
        "expires_at": shared.expires_at,
        "traceparent": shared.traceparent,
        "status": DeliveryStatus.PENDING.value,
    }
    guarded = shared.guard_key is not None
    if guarded:
        params["guard_key"] = shared.guard_key
    if len(new) <= VALUES_ROWS:
        statement = _statement(len(new), guarded)
        for i, n in enumerate(new):
            params.update(zip((f"{name}_{i}" for name in _ITEM), n, strict=True))
    else:
        statement = _statement(None, guarded)
        params.update(zip(_ITEM, map(list, zip(*new, strict=True)), strict=True))
    claimed: Claimed = {}
    parked: set[str] = set()
    for key, delivery_id, fingerprint, is_parked in driver.fetch(conn, statement, params):
        if key is None:
            raise Unverified(shared.guard_key)
        claimed[key] = (delivery_id, fingerprint)
        if is_parked:
            parked.add(delivery_id)
    return Stored(claimed, parked)


_INSERT_DELIVERIES = Delivery.__table__.insert()


@cache
def _claim_sqlite() -> Any:
    """The idempotency upsert, built once: building it cost more than running it."""
    keys = IdempotencyKey.__table__
    stmt = sqlite.insert(keys)
    return stmt.on_conflict_do_update(
        index_elements=["workspace_id", "key"],
        set_={
            "delivery_id": stmt.excluded.delivery_id,
            "fingerprint": stmt.excluded.fingerprint,
            "expires_at": stmt.excluded.expires_at,
        },
        where=keys.c.expires_at <= bindparam("b_now", type_=UTCDateTime()),
    ).returning(keys.c.key, keys.c.delivery_id, keys.c.fingerprint)


_PARKED_ENDPOINTS = (
    select(Delivery.__table__.c.endpoint_id)
    .where(
        Delivery.__table__.c.endpoint_id.in_(bindparam("b_ids", expanding=True)),
        Delivery.__table__.c.parked_at.isnot(None),
    )
    .distinct()
)


def _store_sqlite(conn: Connection, shared: Shared, new: list[NewDelivery]) -> Stored:
    if shared.guard_key is not None:  # no key is remembered on SQLite (`Runtime.known_keys`)
        raise NotImplementedError("a guarded write is PostgreSQL's")
    # Rows as executemany parameters, not `.values(rows)`: SQLAlchemy still sends a single
    # multi-row INSERT, but the statement is compiled once and cached.
    keys = [
        {
            "workspace_id": shared.workspace_id,
            "key": n.key,
            "delivery_id": n.delivery_id,
            "fingerprint": n.fingerprint,
            "expires_at": shared.expires_at,
            "b_now": shared.now,
        }
        for n in new
    ]
    claimed = {key: (d, fp) for key, d, fp in conn.execute(_claim_sqlite(), keys)}
    stored = [n for n in new if n.key in claimed]
    if not stored:
        return Stored(claimed, set())
    full = set(conn.scalars(_PARKED_ENDPOINTS, {"b_ids": list({n.endpoint_id for n in stored})}))
    rows = [
        {
            "id": n.delivery_id,
            "workspace_id": shared.workspace_id,
            "environment_id": shared.environment_id,
            "endpoint_id": n.endpoint_id,
            "idempotency_key": n.key,
            "event_type": n.event_type,
            "payload": n.payload,
            "status": DeliveryStatus.PENDING,
            "attempts": 0,
            "next_attempt_at": shared.now,
            "enqueued_at": shared.now,
            "created_at": shared.now,
            "updated_at": shared.now,
            "traceparent": shared.traceparent,
            "parked_at": shared.now if n.endpoint_id in full else None,
        }
        for n in stored
    ]
    conn.execute(_INSERT_DELIVERIES, rows)
    return Stored(claimed, {n.delivery_id for n in stored if n.endpoint_id in full})
