"""Management services against a real database (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from app.db import utcnow
from app.models import ApiKey, Delivery, IdempotencyKey
from app.services import endpoints, event_types, redelivery
from app.services.errors import Conflict, NotFound
from app.services.fanout import EventItem, trigger
from app.services.workspaces import create_endpoint, create_workspace


def _tenant(sessions: sessionmaker[Session]) -> tuple[ApiKey, list[str]]:
    with sessions.begin() as session:
        created = create_workspace(session, "t", "us")
        ids = [
            create_endpoint(
                session, created.workspace_id, f"http://127.0.0.1:9/{n}", allow_private=True
            ).id
            for n in range(3)
        ]
        key = session.scalars(select(ApiKey).filter_by(workspace_id=created.workspace_id)).one()
        return key, ids


def _delivery(key: ApiKey, endpoint_id: str, name: str, **fields: object) -> Delivery:
    return Delivery(
        id=f"del_{name}{key.id}",
        workspace_id=key.workspace_id,
        environment_id=key.environment_id,
        endpoint_id=endpoint_id,
        idempotency_key=name,
        payload="{}",
        **fields,
    )


def test_fanout_stores_one_pending_delivery_per_subscriber(
    sessions: sessionmaker[Session],
) -> None:
    key, (first, second, _unsubscribed) = _tenant(sessions)
    with sessions.begin() as session:
        paid = event_types.create_event_type(session, key.workspace_id, "order.paid", None)
        for endpoint_id in (first, second):
            event_types.subscribe(session, key.workspace_id, endpoint_id, [paid.id])
    with sessions.begin() as session:
        [outcome, missing] = trigger(
            session.connection(),
            key,
            [EventItem(0, "order.paid", {"a": 1}), EventItem(1, "nope", {})],
            max_payload_bytes=1000,
            now=utcnow(),
        )
    with sessions() as session:
        stored = session.scalars(select(Delivery).where(Delivery.id.in_(outcome.delivery_ids)))
        targets = sorted((d.endpoint_id, d.status) for d in stored)
        keys = session.scalar(
            select(func.count()).where(IdempotencyKey.workspace_id == key.workspace_id)
        )

    assert outcome.event_type_id == paid.id and outcome.error is None
    assert targets == sorted([(first, "pending"), (second, "pending")])
    assert isinstance(missing.error, NotFound)
    assert keys == 2  # stored through ingest(), like any send


def test_retry_refuses_a_delivery_in_flight_and_redrive_respects_since(
    sessions: sessionmaker[Session],
) -> None:
    key, (endpoint_id, *_rest) = _tenant(sessions)
    now = utcnow()
    with sessions.begin() as session:
        rows = [
            _delivery(
                key, endpoint_id, f"k{n}", status=status, created_at=now - timedelta(hours=hours)
            )
            for n, (status, hours) in enumerate(
                [("pending", 0), ("failed", 3), ("dead_letter", 1), ("failed", 0), ("delivered", 0)]
            )
        ]
        session.add_all(rows)
    with sessions.begin() as session, pytest.raises(Conflict) as in_flight:
        redelivery.retry_delivery(session, key.workspace_id, rows[0].id, now)
    with sessions.begin() as session:
        count = redelivery.redrive_endpoint(
            session,
            key.workspace_id,
            endpoint_id,
            since=now - timedelta(hours=2),
            statuses=["failed", "dead_letter"],
            now=now,
        )
    with sessions() as session:
        statuses = [session.get(Delivery, row.id).status for row in rows]  # type: ignore[union-attr]

    assert in_flight.value.message == "delivery is pending, already on its way"
    assert count == 2
    assert statuses == ["pending", "failed", "scheduled_retry", "scheduled_retry", "delivered"]


def test_retry_now_moves_a_waiting_retry_to_now_without_restarting_the_schedule(
    sessions: sessionmaker[Session],
) -> None:
    key, (endpoint_id, *_rest) = _tenant(sessions)
    now = utcnow()
    with sessions.begin() as session:
        rows = [
            _delivery(
                key,
                endpoint_id,
                f"now{n}",
                status=status,
                attempts=3,
                next_attempt_at=now + timedelta(hours=2),
            )
            for n, status in enumerate(["scheduled_retry", "delivering"])
        ]
        session.add_all(rows)
    with sessions.begin() as session:
        waiting = redelivery.retry_delivery(session, key.workspace_id, rows[0].id, now)
        retried = (waiting.status, waiting.attempts, waiting.next_attempt_at)
    with sessions.begin() as session, pytest.raises(Conflict) as delivering:
        redelivery.retry_delivery(session, key.workspace_id, rows[1].id, now)

    assert retried == ("scheduled_retry", 3, now)  # due now, the ladder goes on from attempt 3
    assert str(delivering.value) == "delivery is delivering, already on its way"


def test_previous_secret_signs_only_until_it_expires(sessions: sessionmaker[Session]) -> None:
    key, (endpoint_id, *_rest) = _tenant(sessions)
    now = utcnow()
    with sessions.begin() as session:
        endpoint = endpoints.rotate_secret(
            session, key.workspace_id, endpoint_id, timedelta(minutes=5), now
        )
    assert endpoints.signing_secrets(endpoint, now) == [endpoint.secret, endpoint.previous_secret]
    assert endpoints.signing_secrets(endpoint, now + timedelta(minutes=6)) == [endpoint.secret]


def test_an_edit_changes_only_what_it_names(sessions: sessionmaker[Session]) -> None:
    key, (endpoint_id, *_) = _tenant(sessions)
    ws = key.workspace_id
    with sessions.begin() as session:
        first = endpoints.EndpointChange(description="orders", max_in_flight=4, rate_limit=2.5)
        endpoints.update_endpoint(session, ws, endpoint_id, first, allow_private=True)
    with sessions.begin() as session:
        second = endpoints.EndpointChange(max_in_flight=None, is_active=False)
        edited = endpoints.update_endpoint(session, ws, endpoint_id, second, allow_private=True)
        stored = (edited.description, edited.max_in_flight, edited.rate_limit, edited.is_active)

    assert stored == ("orders", None, 2.5, False)
