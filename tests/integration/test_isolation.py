"""Endpoint isolation through the real processes (two workers), on every backend.

One endpoint's trouble must never hold up another's deliveries: a concurrency cap, a rate
limit, a circuit breaker and Retry-After pauses, all kept fleet-wide in the database. The
stacks run with a breaker that opens after 5 failures and cools down for 1 s (doubling to
4 s), and a 2 s delivery timeout.
"""

from __future__ import annotations

import json
import time
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
import requests
from sqlalchemy import func

from app.db import utcnow
from app.ids import new_id
from app.models import Attempt, Delivery
from tests.support.receiver import Receiver
from tests.support.stack import Stack, Tenant

pytestmark = pytest.mark.integration
BATCH = 20  # items per ingest batch call


def _name() -> str:
    return uuid.uuid4().hex[:12]


def _send(stack: Stack, tenant: Tenant, endpoint_id: str, count: int) -> list[str]:
    """Queue `count` deliveries to one endpoint through the ingest batch API; their ids."""
    ids: list[str] = []
    for start in range(0, count, BATCH):
        items = [
            {"endpointId": endpoint_id, "payload": {"n": n}}
            for n in range(start, min(count, start + BATCH))
        ]
        response = requests.post(
            f"{stack.base_url}/api/ingest/batch",
            data=json.dumps({"items": items}),
            timeout=10,
            headers={
                "Authorization": f"Bearer {tenant.api_key}",
                "Content-Type": "application/json",
            },
        )
        assert response.status_code == 202, response.text
        ids += [item["deliveryId"] for item in response.json()["items"]]
    return ids


def _create(stack: Stack, tenant: Tenant, url: str, **fields: Any) -> dict[str, Any]:
    response = stack.management(
        tenant, "POST", f"{tenant.workspace_id}/endpoints", {"url": url, **fields}
    )
    assert response.status_code == 201, response.text
    return dict(response.json())


def _delete(stack: Stack, tenant: Tenant, endpoint_id: str) -> None:
    """End a misbehaving endpoint's backlog with its test (its deliveries go with it), so
    the tests after it on the shared stack do not share the workers with that backlog."""
    response = stack.management(tenant, "DELETE", f"{tenant.workspace_id}/endpoints/{endpoint_id}")
    assert response.status_code == 204, response.text


def _endpoint(stack: Stack, tenant: Tenant, endpoint_id: str) -> dict[str, Any]:
    response = stack.management(tenant, "GET", f"{tenant.workspace_id}/endpoints/{endpoint_id}")
    assert response.status_code == 200, response.text
    return dict(response.json())


def _wait_all(stack: Stack, ids: list[str], status: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with stack.sessions() as session:
            left = (
                session.query(Delivery)
                .filter(Delivery.id.in_(ids), Delivery.status != status)
                .count()
            )
        if not left:
            return
        time.sleep(0.2)
    raise AssertionError(f"{left} of {len(ids)} deliveries not {status} after {timeout}s")


def _attempt_count(stack: Stack, ids: list[str]) -> int:
    with stack.sessions() as session:
        return session.query(Attempt).filter(Attempt.delivery_id.in_(ids)).count()


def _wait_circuit(
    stack: Stack, tenant: Tenant, endpoint_id: str, state: str, timeout: float
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = _endpoint(stack, tenant, endpoint_id)
        if found["circuit"]["state"] == state:
            return found
        time.sleep(0.05)
    raise AssertionError(f"circuit not {state} after {timeout}s: {found['circuit']}")


def test_cap_holds_across_workers_and_a_freed_slot_is_used_at_once(
    stack: Stack, receiver: Receiver
) -> None:
    tenant = stack.tenant()
    name = _name()
    endpoint = _create(stack, tenant, receiver.url(name, sleep=0.3), maxInFlight=2)
    assert endpoint["maxInFlight"] == 2

    started = time.monotonic()
    ids = _send(stack, tenant, endpoint["id"], 24)
    _wait_all(stack, ids, "delivered", timeout=30)
    took = time.monotonic() - started

    # Two workers with eight threads each, yet never more than two at the receiver.
    assert receiver.most_in_flight(name) == 2
    # Parking is no attempt: each delivery was attempted exactly once.
    assert _attempt_count(stack, ids) == 24
    # 12 rounds of 0.3 s: waking parked deliveries keeps the two slots busy, where the
    # scheduler's safety net alone would take 3 s per round (36 s). The SQLite broker polls
    # once a second, hence the margin.
    assert took < 20, took


def test_rate_limit_holds_across_workers(stack: Stack, receiver: Receiver) -> None:
    tenant = stack.tenant()
    name = _name()
    endpoint = _create(stack, tenant, receiver.url(name), rateLimit=2)
    assert endpoint["rateLimit"] == 2

    ids = _send(stack, tenant, endpoint["id"], 10)
    _wait_all(stack, ids, "delivered", timeout=30)

    times = sorted(r.at for r in receiver.received(name))
    assert len(times) == 10
    spread = [round(t - times[0], 2) for t in times]
    # The limiter admits a burst of one second's worth (3: at 0, 0.5 and 1.0 s of its
    # clock) and then one every 0.5 s, so the tenth at 3.5 s and at most 4 in any second.
    # A send starts a little after its admission (a thread's turn on a loaded machine), so
    # arrivals may be shifted by up to half an interval: one more in a second, 0.5 s less
    # in all. Without the limiter all 10 arrive within a fraction of a second.
    assert spread[-1] >= 3.0, spread
    for first in times:
        assert sum(first <= t < first + 1 for t in times) <= 5, spread
    assert _attempt_count(stack, ids) == 10


def test_breaker_opens_spends_nothing_while_open_probes_and_closes(
    stack: Stack, receiver: Receiver
) -> None:
    tenant = stack.tenant()
    name = _name()
    endpoint = _create(stack, tenant, receiver.url(name), maxInFlight=4)
    receiver.answer(name, 500)

    ids = _send(stack, tenant, endpoint["id"], 40)
    opened = _wait_circuit(stack, tenant, endpoint["id"], "open", timeout=20)
    assert opened["circuit"]["consecutiveFailures"] >= 5
    assert opened["circuit"]["openUntil"] is not None
    # Inside the 1 s cooldown nothing is claimed, so nothing is sent but what was claimed
    # before the circuit opened (a thread may send it late on a loaded machine). Watched
    # until shortly before the cooldown ends, by the circuit's own clock.
    with stack.sessions() as session:
        claimed = (
            session.query(Delivery)
            .filter(Delivery.id.in_(ids), Delivery.status == "delivering")
            .count()
        )
    seen = len(receiver.received(name))
    open_until = datetime.fromisoformat(opened["circuit"]["openUntil"])
    time.sleep(max(0.0, (open_until - datetime.now(UTC)).total_seconds() - 0.1))
    assert len(receiver.received(name)) <= seen + claimed, (seen, claimed)
    assert seen < 40  # the backlog was held back, not attempted

    # Cooled down, one probe at a time; it fails, so the circuit opens again.
    _wait_circuit(stack, tenant, endpoint["id"], "open", timeout=10)
    receiver.answer(name, 200)
    _wait_circuit(stack, tenant, endpoint["id"], "closed", timeout=20)
    _wait_all(stack, ids, "delivered", timeout=40)
    closed = _endpoint(stack, tenant, endpoint["id"])
    assert closed["circuit"] == {"state": "closed", "consecutiveFailures": 0, "openUntil": None}
    # Every delivery got through within the retry schedule (1,1,1): deferrals cost none.
    with stack.sessions() as session:
        assert max(d.attempts for d in session.query(Delivery).filter(Delivery.id.in_(ids))) <= 4
    logs = "".join(stack.log(n) for n in stack.procs if n.startswith("worker"))
    changes = [
        json.loads(line)
        for line in logs.splitlines()
        if "endpoint circuit changed" in line and endpoint["id"] in line
    ]
    assert {c["to"] for c in changes} >= {"open", "half_open", "closed"}


def test_retry_after_pauses_the_whole_endpoint(stack: Stack, receiver: Receiver) -> None:
    tenant = stack.tenant()
    name = _name()
    endpoint = _create(stack, tenant, receiver.url(name, limited=1, retry_after=3))

    [first] = _send(stack, tenant, endpoint["id"], 1)
    [limited] = receiver.wait_for(name, 1)
    paused = None
    deadline = time.monotonic() + 5
    while paused is None and time.monotonic() < deadline:
        paused = _endpoint(stack, tenant, endpoint["id"])["pausedUntil"]
        time.sleep(0.05)
    assert paused is not None
    others = _send(stack, tenant, endpoint["id"], 5)
    _wait_all(stack, [first, *others], "delivered", timeout=20)

    later = [r.at for r in receiver.received(name)[1:]]
    assert len(later) == 6
    # Nothing went to the endpoint until the 3 s it asked for had passed.
    assert min(later) - limited.at >= 2.8, min(later) - limited.at
    assert _attempt_count(stack, others) == 5


def test_hanging_endpoint_does_not_hold_up_a_healthy_one(stack: Stack, receiver: Receiver) -> None:
    tenant = stack.tenant()
    hanging, healthy = _name(), _name()
    stuck = _create(stack, tenant, receiver.url(hanging, sleep=30), maxInFlight=4)
    good = _create(stack, tenant, receiver.url(healthy))
    _send(stack, tenant, stuck["id"], 300)
    receiver.wait_for(hanging, 1)

    sent_at = time.time()
    ids = _send(stack, tenant, good["id"], 20)
    got = receiver.wait_for(healthy, 20, timeout=30)

    # The SQLite broker hands out one message per query, and the 300 parked ones are ahead.
    bound = 10 if stack.name == "sqlite" else 3
    assert max(r.at for r in got) - sent_at < bound, max(r.at for r in got) - sent_at
    _wait_all(stack, ids, "delivered", timeout=10)
    _delete(stack, tenant, stuck["id"])


def test_first_attempts_do_not_wait_behind_a_storm_of_retries(
    stack: Stack, receiver: Receiver
) -> None:
    tenant = stack.tenant()
    slow, fresh = _name(), _name()
    stormy = _create(stack, tenant, receiver.url(slow, sleep=0.5), maxInFlight=100)
    good = _create(stack, tenant, receiver.url(fresh))
    now = utcnow()
    with stack.sessions.begin() as session:  # 400 retries due at once: 12.5 s of 16 threads
        session.add_all(
            Delivery(
                id=new_id("del"),
                workspace_id=tenant.workspace_id,
                environment_id=tenant.environment_id,
                endpoint_id=stormy["id"],
                idempotency_key=uuid.uuid4().hex,
                payload="{}",
                status="scheduled_retry",
                attempts=1,
                next_attempt_at=now,
            )
            for _ in range(400)
        )
    receiver.wait_for(slow, 16)

    sent_at = time.time()
    _send(stack, tenant, good["id"], 5)
    got = receiver.wait_for(fresh, 5, timeout=30)

    # The SQLite broker polls each queue in turn, one message per query.
    bound = 8 if stack.name == "sqlite" else 4
    assert max(r.at for r in got) - sent_at < bound, max(r.at for r in got) - sent_at
    _delete(stack, tenant, stormy["id"])


def test_a_backlog_held_by_a_pause_resumes_with_one_probe_then_at_the_cap(
    stack: Stack, receiver: Receiver
) -> None:
    tenant = stack.tenant()
    name = _name()
    # Each answer takes 1 s, so the four released deliveries overlap at the receiver even
    # when claiming them is slow on a loaded machine (0.3 s once saw only three at once).
    url = receiver.url(name, limited=1, retry_after=2, sleep=1.0)
    endpoint = _create(stack, tenant, url, maxInFlight=4)
    [first] = _send(stack, tenant, endpoint["id"], 1)
    receiver.wait_for(name, 1)
    deadline = time.monotonic() + 5
    while _endpoint(stack, tenant, endpoint["id"])["pausedUntil"] is None:
        assert time.monotonic() < deadline, "the 429 did not pause the endpoint"
        time.sleep(0.05)
    held = _send(stack, tenant, endpoint["id"], 12)

    _wait_all(stack, [first, *held], "delivered", timeout=30)

    probe, *backlog = sorted(receiver.received(name)[1:], key=lambda r: r.at)
    # The backlog was not all released when the pause ended: one request went alone, and
    # the rest followed its answer, at the endpoint's cap.
    assert min(r.at for r in backlog) >= probe.done - 0.05, (probe, backlog[0])
    assert receiver.most_in_flight(name) == 4
    assert _attempt_count(stack, held) == 12


@pytest.mark.parametrize("backend", ["sqlite", "pg-redis"])
def test_an_endpoint_failing_for_the_whole_period_is_disabled_with_a_reason(
    backend: str, fresh_stack: Any, receiver: Receiver
) -> None:
    stack = fresh_stack(backend, HOOKRELAY_DISABLE_AFTER="3").start()
    tenant = stack.tenant()
    name = _name()
    endpoint = _create(stack, tenant, receiver.url(name, status=500), maxInFlight=2)
    _send(stack, tenant, endpoint["id"], 20)

    deadline = time.monotonic() + 30
    while (found := _endpoint(stack, tenant, endpoint["id"]))["isActive"]:
        assert time.monotonic() < deadline, f"still active after 30 s: {found['circuit']}"
        time.sleep(0.2)

    assert found["disabledReason"] == "every attempt failed for 3 seconds"
    # Not before the whole period had failed, by the times the worker decided with (the
    # receiver's clock differs by each attempt's wait for a core on a loaded machine).
    with stack.sessions() as session:
        first, last = (
            session.query(func.min(Attempt.created_at), func.max(Attempt.created_at))
            .join(Delivery, Delivery.id == Attempt.delivery_id)
            .filter(Delivery.endpoint_id == endpoint["id"])
            .one()
        )
    assert (last - first).total_seconds() >= 3 - 0.01, (first, last)
    assert len(receiver.received(name)) >= 2
