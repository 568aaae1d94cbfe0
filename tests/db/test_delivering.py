"""One delivery through `delivering.deliver`: claim, send to a real receiver, record.

The same path a worker's task runs, with a real database and a real HTTP receiver on
127.0.0.1, and no broker.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from datetime import timedelta

import pytest
from sqlalchemy import Engine, update
from sqlalchemy.orm import Session, sessionmaker

from app.config import Settings
from app.db import utcnow
from app.models import Attempt, Delivery, Endpoint
from app.retry import JITTER, AttemptResult, decide
from app.sender import Sender
from app.services import delivering
from app.services.leases import Claim, Outcome
from tests.support import seed
from tests.support.receiver import Receiver

SETTINGS = Settings.from_env({"DATABASE_URL": "sqlite://", "HOOKRELAY_RETRY_SCHEDULE": "60"})


@pytest.fixture
def attempts(engine: Engine) -> delivering.Attempts:
    return delivering.Attempts(engine, 30, lambda: "test-worker")


def _path(what: str) -> str:
    """A receiver path of this test's own (the receiver is shared by the whole session)."""
    return f"delivering-{what}-{uuid.uuid4().hex[:8]}"


def _deliver(
    attempts: delivering.Attempts,
    delivery_id: str,
    observe: Callable[[Claim, str], None] | None = None,
) -> str | None:
    return delivering.deliver(attempts, Sender(allow_private=True), SETTINGS, delivery_id, observe)


def test_a_due_delivery_is_sent_signed_and_recorded_delivered(
    sessions: sessionmaker[Session], attempts: delivering.Attempts, receiver: Receiver
) -> None:
    name = _path("ok")
    key, endpoint_id = seed.endpoint(sessions, receiver.url(name))
    [delivery_id] = seed.deliveries(sessions, key, endpoint_id, {"order": 1})
    seen: list[tuple[str, str, int]] = []

    def observe(claim: Claim, status: str) -> None:
        seen.append((claim.delivery_id, status, claim.attempt_number))

    assert _deliver(attempts, delivery_id, observe=observe) == "delivered"

    [request] = receiver.received(name)
    with sessions() as session:
        secret = session.get_one(Endpoint, endpoint_id).secret
        delivery = session.get_one(Delivery, delivery_id)
        [attempt] = session.query(Attempt).filter_by(delivery_id=delivery_id).all()
    request.verify(secret)
    assert request.headers["webhook-id"] == delivery_id
    assert json.loads(request.body) == {"order": 1}
    assert (delivery.status, delivery.attempts, delivery.lease_owner) == ("delivered", 1, None)
    assert (attempt.attempt_number, attempt.response_status_code) == (1, 200)
    assert seen == [(delivery_id, "delivered", 1)]


def test_a_failed_attempt_schedules_the_retry_from_the_schedule(
    sessions: sessionmaker[Session], attempts: delivering.Attempts, receiver: Receiver
) -> None:
    name = _path("500")
    key, endpoint_id = seed.endpoint(sessions, receiver.url(name, status=500))
    [delivery_id] = seed.deliveries(sessions, key, endpoint_id, {"order": 2})
    before = utcnow()

    assert _deliver(attempts, delivery_id) == "scheduled_retry"

    with sessions() as session:
        delivery = session.get_one(Delivery, delivery_id)
        [attempt] = session.query(Attempt).filter_by(delivery_id=delivery_id).all()
    assert delivery.status == "scheduled_retry" and delivery.attempts == 1
    assert delivery.next_attempt_at is not None
    delay = (delivery.next_attempt_at - before).total_seconds()
    assert 60 * (1 - JITTER) <= delay <= 60 * (1 + JITTER) + 5  # the schedule's 60 s
    assert attempt.response_status_code == 500
    assert len(receiver.received(name)) == 1


def test_what_is_not_due_is_skipped_without_a_request(
    sessions: sessionmaker[Session], attempts: delivering.Attempts, receiver: Receiver
) -> None:
    name = _path("once")
    key, endpoint_id = seed.endpoint(sessions, receiver.url(name))
    [delivery_id] = seed.deliveries(sessions, key, endpoint_id, {"order": 3})

    assert _deliver(attempts, delivery_id) == "delivered"
    assert _deliver(attempts, delivery_id) is None  # a redelivered message: already delivered
    assert _deliver(attempts, "del_unknown") is None
    assert len(receiver.received(name)) == 1


def test_a_disabled_endpoint_fails_the_delivery_without_sending(
    sessions: sessionmaker[Session], attempts: delivering.Attempts, receiver: Receiver
) -> None:
    name = _path("off")
    key, endpoint_id = seed.endpoint(sessions, receiver.url(name))
    [delivery_id] = seed.deliveries(sessions, key, endpoint_id, {"order": 4})
    with sessions.begin() as session:
        session.get_one(Endpoint, endpoint_id).is_active = False

    assert _deliver(attempts, delivery_id) == "failed"

    with sessions() as session:
        [attempt] = session.query(Attempt).filter_by(delivery_id=delivery_id).all()
    assert attempt.error_message == "endpoint is disabled"
    assert receiver.received(name) == []


def test_a_relayed_claim_whose_circuit_opened_before_it_was_sent_is_given_back_uncounted(
    sessions: sessionmaker[Session], engine: Engine, receiver: Receiver
) -> None:
    """A failing endpoint's freed slot is relayed to its next delivery, and another worker's
    failure opens the circuit before that claim is sent: no request may go, no attempt is
    counted, and the delivery waits held until the cooldown ends (before, it was sent into
    the open circuit, as the benchmark's isolation phase once saw)."""
    name = _path("tripped")
    key, endpoint_id = seed.endpoint(sessions, receiver.url(name, status=500), max_in_flight=1)
    first, second = seed.deliveries(sessions, key, endpoint_id, {"n": 1}, {"n": 2})
    attempts = delivering.Attempts(engine, 30, lambda: f"w-{uuid.uuid4().hex[:6]}")
    taken = attempts.claim(first)
    assert taken is not None and attempts.claim(second) is None  # over the cap: parked
    failed = AttemptResult(status_code=500)
    now = utcnow()
    assert attempts.record(Outcome(taken, failed, decide(failed, 1, (60,), now), now))
    until = utcnow() + timedelta(seconds=30)
    with sessions.begin() as session:  # another worker's record opens the circuit
        session.execute(
            update(Endpoint)
            .where(Endpoint.id == endpoint_id)
            .values(circuit_state="open", circuit_open_until=until)
        )

    assert _deliver(attempts, "del_unknown") is None  # runs the relayed claim, if any

    assert receiver.received(name) == []
    with sessions() as session:
        held = session.get_one(Delivery, second)
        assert session.query(Attempt).filter_by(delivery_id=second).count() == 0
    assert (held.status, held.attempts, held.lease_owner) == ("pending", 0, None)
    assert held.first_attempt_at is None
    assert held.parked_at is not None and held.next_attempt_at == until
