"""Storing accepted deliveries (`storing.store`) on SQLite and PostgreSQL, and what a single
send costs in statements."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

import pytest
from flask import Flask
from kombu import Connection
from sqlalchemy import Engine, event, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from app.db import utcnow
from app.ids import new_id
from app.models import ApiKey, Delivery, IdempotencyKey
from app.services.storing import VALUES_ROWS, NewDelivery, Shared, Unverified, store
from app.services.workspaces import create_endpoint, create_workspace

NOW = utcnow()
WINDOW = timedelta(minutes=15)


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
        claimed, parked = store(conn, _shared(key, later, later + WINDOW, "tp"), again)

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
    assert parked == set()  # nothing of the endpoint's is parked
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


# The guard is PostgreSQL's: SQLite keeps no key (`Runtime.known_keys`).
@pytest.mark.parametrize("engine", ["postgresql"], indirect=True)
def test_a_guarded_store_writes_only_for_a_live_key_and_endpoints_of_its_environment(
    engine: Engine, sessions: sessionmaker[Session], tenant: tuple[ApiKey, str, str]
) -> None:
    key, _token, endpoint_id = tenant
    with sessions.begin() as session:
        other = create_workspace(session, "other", "us")
        foreign = create_endpoint(
            session, other.workspace_id, "http://127.0.0.1:9/hook", allow_private=True
        ).id
    guarded = replace(_shared(key, NOW, NOW + WINDOW), guard_key=key.id)
    stored, mixed, late = _new(endpoint_id), [_new(endpoint_id), _new(foreign)], _new(endpoint_id)

    with _write_engine(engine).begin() as conn:
        assert list(store(conn, guarded, [stored]).claimed) == [stored.key]
    with pytest.raises(Unverified), _write_engine(engine).begin() as conn:
        store(conn, guarded, mixed)  # another workspace's endpoint
    with sessions.begin() as session:
        session.get_one(ApiKey, key.id).revoked_at = utcnow()
    with pytest.raises(Unverified), _write_engine(engine).begin() as conn:
        store(conn, guarded, [late])

    with sessions() as session:
        keys = session.scalars(select(IdempotencyKey.key).filter_by(workspace_id=key.workspace_id))
        assert list(keys) == [stored.key]
        count = select(func.count(Delivery.id)).filter_by(workspace_id=key.workspace_id)
        assert session.scalar(count) == 1


def test_a_delivery_to_an_endpoint_with_parked_deliveries_is_stored_parked_behind_them(
    engine: Engine, sessions: sessionmaker[Session], tenant: tuple[ApiKey, str, str]
) -> None:
    """A full (or blocked) endpoint's newcomers wait in the database in their turn, not as
    messages in the broker ahead of other endpoints' deliveries."""
    key, _token, busy = tenant
    with sessions.begin() as session:
        idle = create_endpoint(
            session, key.workspace_id, "http://127.0.0.1:9/idle", allow_private=True
        ).id
    waiting = _new(busy)
    with _write_engine(engine).begin() as conn:
        store(conn, _shared(key, NOW, NOW + WINDOW), [waiting])
    with sessions.begin() as session:  # as a claim that found the endpoint full parks it
        session.get_one(Delivery, waiting.delivery_id).parked_at = NOW
    later = NOW + timedelta(seconds=1)
    behind, elsewhere = _new(busy), _new(idle)

    with _write_engine(engine).begin() as conn:
        _claimed, parked = store(conn, _shared(key, later, later + WINDOW), [behind, elsewhere])

    assert parked == {behind.delivery_id}
    with sessions() as session:
        assert session.get_one(Delivery, behind.delivery_id).parked_at == later
        assert session.get_one(Delivery, elsewhere.delivery_id).parked_at is None


def _queued(app: Flask) -> int:
    """Messages waiting in the app's (embedded) broker's default queue."""
    settings = app.extensions["hookrelay"].settings
    with Connection(settings.broker_url) as conn:
        return conn.default_channel.queue_declare(settings.queue_name, passive=True).message_count


def test_a_send_stored_parked_is_not_published(
    app: Flask, sessions: sessionmaker[Session], tenant: tuple[ApiKey, str, str]
) -> None:
    """Its message would find nothing to claim: the delivery goes when a slot is relayed to
    it or the scheduler wakes it, so publishing it would only queue work ahead of others."""
    _key, token, endpoint_id = tenant
    client = app.test_client()
    headers = {"Authorization": f"Bearer {token}"}
    send = f"/api/ingest/{endpoint_id}"
    first = client.post(send, json={"payload": {"n": 1}}, headers=headers).get_json()
    queued = _queued(app)
    assert queued >= 1  # the first one's message (no worker runs here)
    with sessions.begin() as session:
        session.get_one(Delivery, first["deliveryId"]).parked_at = utcnow()

    answer = client.post(send, json={"payload": {"n": 2}}, headers=headers)

    assert answer.status_code == 202
    with sessions() as session:
        assert session.get_one(Delivery, answer.get_json()["deliveryId"]).parked_at is not None
    assert _queued(app) == queued


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


def test_a_single_send_costs_one_read_and_one_write_and_from_a_known_key_the_write_alone(
    app: Flask, tenant: tuple[ApiKey, str, str], statements: list[tuple[str, bool]]
) -> None:
    """The key and its endpoint in one read, then the store. On PostgreSQL, once the process
    knows the key and the endpoint (`auth.KnownKeys`), the store alone, which checks them
    itself; the statements run in autocommit, so no BEGIN or COMMIT round trip is paid.
    SQLite reads the key on every send, then claims the idempotency key, reads whether the
    endpoint has parked deliveries and inserts, inside a transaction (hookrelay's engine
    sends SQLite's BEGIN itself)."""
    _key, token, endpoint_id = tenant
    client = app.test_client()
    headers = {"Authorization": f"Bearer {token}"}
    send = f"/api/ingest/{endpoint_id}"
    app.extensions["hookrelay"].intake_engine.connect().close()  # the pool's first connection
    statements.clear()

    assert client.post(send, json={"payload": {"n": 1}}, headers=headers).status_code == 202
    first = list(statements)
    statements.clear()
    assert client.post(send, json={"payload": {"n": 2}}, headers=headers).status_code == 202

    if app.extensions["hookrelay"].engine.dialect.name == "postgresql":
        assert first == [("SELECT", True), ("WITH", True)]
        assert statements == [("WITH", True)]
    else:
        assert [verb for verb, _ in first] == ["BEGIN", "SELECT", "INSERT", "SELECT", "INSERT"]
        assert [verb for verb, _ in statements] == ["BEGIN", "SELECT", "INSERT", "SELECT", "INSERT"]
