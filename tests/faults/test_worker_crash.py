"""A worker killed with SIGKILL mid-run loses nothing: every delivery arrives at least once."""

from __future__ import annotations

import signal
import uuid
from collections.abc import Callable

import pytest

from tests.support.receiver import Receiver
from tests.support.runs import assert_at_least_once, ingest_many
from tests.support.stack import BACKENDS, Stack

pytestmark = pytest.mark.integration
TOTAL = 200


@pytest.mark.parametrize("backend", list(BACKENDS))
def test_sigkilled_worker_loses_no_delivery(
    backend: str, fresh_stack: Callable[..., Stack], receiver: Receiver
) -> None:
    stack = fresh_stack(backend).start(workers=1)
    tenant = stack.tenant()
    name = uuid.uuid4().hex[:12]
    endpoint = stack.endpoint(tenant, receiver.url(name, sleep=0.05))
    ids = ingest_many(stack, tenant, endpoint["id"], TOTAL)

    receiver.wait_for(name, 20)
    stack.kill("worker", signal.SIGKILL)
    killed_at = len(receiver.received(name))
    assert killed_at < TOTAL, "the worker finished before it could be killed"
    stack.run("worker", name="worker-restarted")

    arrivals = assert_at_least_once(stack, receiver, name, ids)
    print(
        f"\n{backend}: worker killed after {killed_at} arrivals; {TOTAL} accepted, "
        f"{len(arrivals)} arrived, {sum(arrivals.values()) - TOTAL} duplicates"
    )


@pytest.mark.parametrize("backend", list(BACKENDS))
def test_stopped_worker_hands_back_what_it_prefetched(
    backend: str, fresh_stack: Callable[..., Stack], receiver: Receiver
) -> None:
    """A worker stopped normally returns its prefetched messages to the broker at once.

    The scheduler is kept out of it (nothing is republished or reclaimed for ten minutes),
    so every delivery the stopped worker held but had not started must come back through
    the broker. On Redis this is the path that replaces kombu's ack emulation.
    """
    stack = fresh_stack(
        backend, HOOKRELAY_REQUEUE_AFTER="600", HOOKRELAY_LEASE_SECONDS="600"
    ).start(workers=1)
    tenant = stack.tenant()
    name = uuid.uuid4().hex[:12]
    endpoint = stack.endpoint(tenant, receiver.url(name, sleep=0.1))
    ids = ingest_many(stack, tenant, endpoint["id"], TOTAL)

    receiver.wait_for(name, 20)
    stack.kill("worker", signal.SIGTERM)  # waits until the worker has exited
    stopped_at = len(receiver.received(name))
    assert stopped_at < TOTAL, "the worker finished before it was stopped"
    stack.run("worker", name="worker-restarted")

    arrivals = assert_at_least_once(stack, receiver, name, ids)
    assert max(arrivals.values()) == 1, "a worker stopped normally caused a repeat"
    print(f"\n{backend}: worker stopped after {stopped_at} arrivals; the rest came back")
