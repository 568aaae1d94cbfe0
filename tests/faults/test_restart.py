"""A retry scheduled far ahead survives a restart of every process."""

from __future__ import annotations

import signal
import time
import uuid
from collections.abc import Callable
from datetime import timedelta

import pytest
import requests

from app.db import utcnow
from app.models import Delivery
from tests.support.receiver import Receiver
from tests.support.stack import Stack

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("backend", ["pg-redis", "pg-rabbitmq"])
def test_retry_ten_minutes_away_survives_restarting_everything(
    backend: str, fresh_stack: Callable[..., Stack], receiver: Receiver
) -> None:
    stack = fresh_stack(backend, HOOKRELAY_RETRY_SCHEDULE="600").start(workers=1)
    tenant = stack.tenant()
    name = uuid.uuid4().hex[:12]
    endpoint = stack.endpoint(tenant, receiver.url(name, fail=1))
    delivery_id = requests.post(
        f"{stack.base_url}/api/ingest/{endpoint['id']}",
        json={"payload": {}},
        timeout=10,
        headers={"Authorization": f"Bearer {tenant.api_key}"},
    ).json()["deliveryId"]
    receiver.wait_for(name, 1)
    deadline = time.monotonic() + 10
    while stack.delivery(delivery_id).status != "scheduled_retry" and time.monotonic() < deadline:
        time.sleep(0.1)
    retry_at = stack.delivery(delivery_id).next_attempt_at
    assert retry_at is not None and retry_at - utcnow() > timedelta(minutes=8)

    for process in list(stack.procs):
        stack.kill(process, signal.SIGKILL)
    stack.start(workers=1)
    time.sleep(3)  # the new scheduler passes many times: nothing is sent early
    assert len(receiver.received(name)) == 1
    assert stack.delivery(delivery_id).status == "scheduled_retry"

    # Ten minutes pass: the only state that changes with time is the stored retry time, so
    # moving it to now stands in for the wait; no process is told anything.
    with stack.sessions.begin() as session:
        session.execute(
            Delivery.__table__.update()
            .where(Delivery.id == delivery_id)
            .values(next_attempt_at=utcnow())
        )

    receiver.wait_for(name, 2, timeout=20)
    assert stack.wait_final(delivery_id).status == "delivered"
    assert stack.delivery(delivery_id).attempts == 2
