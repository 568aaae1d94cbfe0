"""The broker goes away: restarted mid-run, or down while payloads are accepted."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable

import pytest

from tests.support.private import PrivateRabbit, PrivateRedis
from tests.support.receiver import Receiver
from tests.support.runs import assert_at_least_once, ingest_many
from tests.support.stack import Stack

pytestmark = pytest.mark.integration
BROKERS = ["pg-redis", "pg-rabbitmq"]


@pytest.mark.parametrize("backend", BROKERS)
def test_broker_restart_mid_run_loses_nothing(
    backend: str,
    fresh_stack: Callable[..., Stack],
    private_broker: Callable[[str], PrivateRedis | PrivateRabbit],
    receiver: Receiver,
) -> None:
    broker = private_broker(backend)
    stack = fresh_stack(backend, broker_url=broker.url).start()
    tenant = stack.tenant()
    name = uuid.uuid4().hex[:12]
    # Slow enough (about 6 s of work for 16 worker threads) that the broker goes down with
    # most of the run still queued or in flight; RabbitMQ takes seconds to shut down.
    endpoint = stack.endpoint(tenant, receiver.url(name, sleep=0.5))
    ids = ingest_many(stack, tenant, endpoint["id"], 200)

    receiver.wait_for(name, 20)
    broker.stop()
    stopped_at = len(receiver.received(name))
    ids += ingest_many(stack, tenant, endpoint["id"], 40)  # accepted while the broker is down
    time.sleep(2)
    broker.start()

    assert stopped_at < 200, "the run finished before the broker stopped"
    arrivals = assert_at_least_once(stack, receiver, name, ids)
    duplicates = sum(arrivals.values()) - len(ids)
    print(
        f"\n{backend}: broker restarted after {stopped_at} arrivals; {len(ids)} accepted, "
        f"{len(arrivals)} arrived, {duplicates} duplicates"
    )


@pytest.mark.parametrize("backend", BROKERS)
def test_broker_down_at_ingest_delivers_once_it_returns(
    backend: str,
    fresh_stack: Callable[..., Stack],
    private_broker: Callable[[str], PrivateRedis | PrivateRabbit],
    receiver: Receiver,
) -> None:
    broker = private_broker(backend)
    stack = fresh_stack(backend, broker_url=broker.url).start(workers=1)
    tenant = stack.tenant()
    name = uuid.uuid4().hex[:12]
    endpoint = stack.endpoint(tenant, receiver.url(name))
    broker.stop()

    ids = ingest_many(stack, tenant, endpoint["id"], 60)  # committed rows: the API says 202
    time.sleep(2)
    assert receiver.received(name) == []
    assert {stack.delivery(i).status for i in ids} == {"pending"}
    broker.start()

    arrivals = assert_at_least_once(stack, receiver, name, ids)
    print(f"\n{backend}: {len(ids)} accepted with the broker down, {len(arrivals)} arrived")
