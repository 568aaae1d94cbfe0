"""The hot statements on psycopg's cursor (`app.driver`), against a real database.

On PostgreSQL they skip SQLAlchemy's `execute`, so these tests check what that path must
keep: the same rows, in the caller's transaction, errors as SQLAlchemy's, and a connection
the server dropped replaced. On SQLite they are plain `execute`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import Connection, Engine, event
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from app.db import utcnow
from app.models import Delivery
from app.retry import AttemptResult, decide
from app.services import leases
from app.services.endpoint_health import in_flight
from app.services.leases import Outcome
from tests.support import seed

POLICY = leases.DEFAULT_POLICY
OK = AttemptResult(status_code=200, response_time_ms=3)


def _deliveries(sessions: sessionmaker[Session], n: int) -> list[str]:
    key, endpoint_id = seed.endpoint(sessions, "http://127.0.0.1:9/hook")
    return seed.deliveries(sessions, key, endpoint_id, *({"i": i} for i in range(n)))


@contextmanager
def _executed(engine: Engine) -> Iterator[list[str]]:
    """The statements run through SQLAlchemy's `Connection.execute` inside the block."""
    seen: list[str] = []

    def record(_conn: object, statement: Any, *_args: object) -> None:
        seen.append(str(statement).split(None, 1)[0])

    event.listen(engine, "before_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine, "before_execute", record)


def test_a_lone_claim_and_record_run_on_the_driver_on_postgresql(
    sessions: sessionmaker[Session],
) -> None:
    """Their seven statements cost as much client CPU in SQLAlchemy as in psycopg and the
    round trip (docs/performance.md, round 15); on SQLite they stay on `execute`."""
    engine = sessions.kw["bind"]
    [delivery_id] = _deliveries(sessions, 1)
    now = utcnow()
    with _executed(engine) as executed, engine.begin() as conn:
        claims, _ = leases.claim_group(conn, [delivery_id], "w", 30, now, POLICY)
        claim = claims[delivery_id]
        decision = decide(OK, claim.attempt_number, (1, 1, 1), now)
        recorded = leases.record_group(conn, [Outcome(claim, OK, decision, now)], POLICY)

    assert recorded.holds == [True]
    with sessions() as session:
        delivery = session.get(Delivery, delivery_id)
    assert delivery is not None and delivery.status == "delivered"
    if engine.dialect.name == "postgresql":
        assert executed == []
    else:
        assert len(executed) >= 7, executed


def test_rows_read_on_the_driver_are_the_rows_execute_reads(
    sessions: sessionmaker[Session],
) -> None:
    """Decrypted secrets, times in UTC, JSON config, counts: every column as its type reads it,
    by name and by position."""
    engine = sessions.kw["bind"]
    ids = _deliveries(sessions, 3)
    now = utcnow()
    params = {"b_ids": ids, "b_now": now}
    with engine.begin() as conn:
        fast = leases._CANDIDATES.rows(conn, params)
        core = conn.execute(leases._CANDIDATES.statement, params).all()
        assert [tuple(row) for row in fast] == [tuple(row) for row in core]
        assert len(fast) == 3 and fast[0].secret.startswith("whsec_")
        assert fast[0].url == "http://127.0.0.1:9/hook" and fast[0].config == core[0].config

        leases.claim_group(conn, ids[:2], "w", 30, now, POLICY)
        counted = in_flight(conn, [fast[0].id], now)
        assert counted == {fast[0].id: 2}
        leased = leases._LEASES.rows(conn, {"b_ids": ids})
        by_id = {row.id: (row.lease_owner, row.status) for row in leased}
        assert by_id == {
            ids[0]: ("w", "delivering"),
            ids[1]: ("w", "delivering"),
            ids[2]: (None, "pending"),
        }


def _backend_pid(conn: Connection) -> int:
    return int(conn.exec_driver_sql("SELECT pg_backend_pid()").scalar_one())


def test_a_driver_error_is_sqlalchemys_and_a_dropped_connection_is_replaced(
    sessions: sessionmaker[Session],
) -> None:
    """Callers and the pool see what `execute` would have raised: the error classes, and a
    connection the server closed (a restart) invalidated, so the next transaction gets a
    new one instead of failing on the dead one."""
    engine = sessions.kw["bind"]
    ids = _deliveries(sessions, 1)
    now = utcnow()
    row = {
        "id": "att_same",
        "delivery_id": ids[0],
        "attempt_number": 1,
        "status": "succeeded",
        "response_status_code": 200,
        "response_time_ms": 1,
        "error_message": None,
        "response_body": None,
        "created_at": now,
    }
    with pytest.raises(IntegrityError), engine.begin() as conn:
        leases._ADD_ATTEMPT.run(conn, [row, row])

    if engine.dialect.name != "postgresql":
        return  # SQLite has no server to drop the connection
    with pytest.raises(OperationalError) as raised, engine.begin() as conn:
        pid = _backend_pid(conn)
        with engine.connect() as other:
            other.exec_driver_sql(f"SELECT pg_terminate_backend({pid})")
        leases._LEASES.rows(conn, {"b_ids": ids})
    assert raised.value.connection_invalidated
    with engine.begin() as conn:
        assert _backend_pid(conn) != pid
        assert [r.id for r in leases._LEASES.rows(conn, {"b_ids": ids})] == ids
