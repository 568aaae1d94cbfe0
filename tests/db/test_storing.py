"""Storing accepted deliveries (`storing.store`) on SQLite and PostgreSQL, and what a single
send costs in statements."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, event, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from app import create_app
from app.config import Settings
from app.db import utcnow
from app.ids import new_id
from app.models import ApiKey, Delivery, IdempotencyKey
from app.services.storing import VALUES_ROWS, NewDelivery, Shared, store
from app.services.workspaces import create_endpoint, create_workspace

NOW = utcnow()
WINDOW = timedelta(minutes=15)


@pytest.fixture
def tenant(sessions: sessionmaker[Session]) -> tuple[ApiKey, str, str]:
    """An API key, its plaintext token and one endpoint of its environment."""
    with sessions.begin() as session:
        created = create_workspace(session, "t", "us")
        endpoint = create_endpoint(
            session, created.workspace_id, "http://127.0.0.1:9/hook", allow_private=True
        )
        key = session.scalars(select(ApiKey).filter_by(workspace_id=created.workspace_id)).one()
        return key, created.api_key, endpoint.id


def _new(endpoint_id: str, key: str | None = None) -> NewDelivery:
    return NewDelivery(key or new_id("k"), new_id("del"), "f" * 64, endpoint_id, None, "{}")


def _shared(key: ApiKey, now: datetime, expires_at: datetime, tp: str | None = None) -> Shared:
    return Shared(key.workspace_id, key.environment_id, now, expires_at, tp)


def _write_engine(engine: Engine) -> Engine:
    """How the ingest routes write: autocommit on PostgreSQL, a transaction on SQLite."""
    if engine.dialect.name == "postgresql":
        return engine.execution_options(isolation_level="AUTOCOMMIT")
    return engine


# 1 row and a batch go as scalar parameters; past VALUES_ROWS (a large fan-out), as arrays.
@pytest.mark.parametrize("size", [1, 20, VALUES_ROWS + 5])
def test_store_takes_new_and_expired_keys_and_leaves_live_ones_alone(
    engine: Engine, sessions: sessionmaker[Session], tenant: tuple[ApiKey, str, str], size: int
) -> None:
    key, _token, endpoint_id = tenant
    live, expired = _new(endpoint_id), _new(endpoint_id)
    with _write_engine(engine).begin() as conn:
        store(conn, _shared(key, NOW, NOW + WINDOW), [live])
        store(conn, _shared(key, NOW, NOW + timedelta(seconds=1)), [expired])
    later = NOW + timedelta(seconds=2)
    fresh = [_new(endpoint_id) for _ in range(size - 2)]
    again = [_new(endpoint_id, live.key), _new(endpoint_id, expired.key), *fresh]
    with _write_engine(engine).begin() as conn:
        claimed = store(conn, _shared(key, later, later + WINDOW, "tp"), again)

    with sessions() as session:
        stored = set(session.scalars(select(Delivery.id).filter_by(workspace_id=key.workspace_id)))
        pointers = {
            k: d
            for k, d in session.execute(
                select(IdempotencyKey.key, IdempotencyKey.delivery_id).filter_by(
                    workspace_id=key.workspace_id
                )
            )
        }
        taken = session.get_one(Delivery, again[1].delivery_id)
    assert claimed == {n.key: (n.delivery_id, n.fingerprint) for n in again[1:]}
    assert stored == {live.delivery_id, expired.delivery_id} | {n.delivery_id for n in again[1:]}
    assert pointers[live.key] == live.delivery_id  # a live key is never taken over
    assert pointers[expired.key] == again[1].delivery_id
    assert (taken.status, taken.endpoint_id, taken.traceparent) == ("pending", endpoint_id, "tp")


def test_a_store_that_fails_keeps_neither_its_keys_nor_its_deliveries(
    engine: Engine, sessions: sessionmaker[Session], tenant: tuple[ApiKey, str, str]
) -> None:
    key, _token, endpoint_id = tenant
    good, orphan = _new(endpoint_id), _new("ep_missing")  # no such endpoint: a foreign key fails
    with pytest.raises(IntegrityError), _write_engine(engine).begin() as conn:
        store(conn, _shared(key, NOW, NOW + WINDOW), [good, orphan])

    with sessions() as session:
        keys = session.scalars(select(IdempotencyKey.key).filter_by(workspace_id=key.workspace_id))
        assert list(keys) == []
        assert session.get(Delivery, good.delivery_id) is None


@pytest.fixture
def statements(engine: Engine) -> Iterator[list[tuple[str, bool]]]:
    """Every statement any engine on the test's database sends meanwhile (not the embedded
    broker's), with whether it ran in autocommit."""
    seen: list[tuple[str, bool]] = []

    def record(conn: Any, cursor: Any, statement: str, *_args: Any) -> None:
        if conn.engine.url == engine.url:
            autocommit = getattr(conn.connection.driver_connection, "autocommit", False)
            seen.append((statement.split()[0], autocommit is True))

    event.listen(Engine, "before_cursor_execute", record)
    yield seen
    event.remove(Engine, "before_cursor_execute", record)


def test_a_single_send_costs_one_read_and_one_write(
    engine: Engine,
    tenant: tuple[ApiKey, str, str],
    statements: list[tuple[str, bool]],
    tmp_path: Path,
) -> None:
    """The key and its endpoint in one read, then the store. On PostgreSQL the two run in
    autocommit, so no BEGIN or COMMIT round trip is paid; SQLite writes in two statements
    inside a transaction (hookrelay's engine sends SQLite's BEGIN itself)."""
    _key, token, endpoint_id = tenant
    env = {
        "DATABASE_URL": engine.url.render_as_string(hide_password=False),
        "HOOKRELAY_PUBLIC_URL": "http://127.0.0.1:9",
        "HOOKRELAY_SECRET_KEY": "test-only",
        "HOOKRELAY_DATA_DIR": str(tmp_path),
        "HOOKRELAY_ENCRYPTION_KEYS": os.environ["HOOKRELAY_ENCRYPTION_KEYS"],
    }
    app = create_app(Settings.from_env(env))
    client = app.test_client()
    headers = {"Authorization": f"Bearer {token}"}
    send = f"/api/ingest/{endpoint_id}"
    assert client.post(send, json={"payload": {"n": 1}}, headers=headers).status_code == 202
    statements.clear()  # the first request's connection setup is not the request's cost

    assert client.post(send, json={"payload": {"n": 2}}, headers=headers).status_code == 202
    runtime = app.extensions["hookrelay"]
    for pool in {runtime.engine, getattr(runtime, "intake_engine", runtime.engine)}:
        pool.dispose()

    if engine.dialect.name == "postgresql":
        assert statements == [("SELECT", True), ("WITH", True)]
    else:
        assert [verb for verb, _ in statements] == ["BEGIN", "SELECT", "INSERT", "INSERT"]
