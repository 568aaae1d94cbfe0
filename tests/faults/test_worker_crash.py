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
