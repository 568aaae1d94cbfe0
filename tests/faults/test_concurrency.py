"""Two schedulers and three workers at once: no delivery is ever attempted twice in parallel."""

from __future__ import annotations

import itertools
import uuid
from collections import defaultdict
from collections.abc import Callable

import pytest

from tests.support.receiver import Receiver
from tests.support.runs import assert_at_least_once, ingest_many
from tests.support.stack import Stack

pytestmark = pytest.mark.integration
LEASE = 10


@pytest.mark.parametrize("backend", ["pg-redis", "pg-rabbitmq"])
def test_two_schedulers_three_workers_never_overlap(
    backend: str, fresh_stack: Callable[..., Stack], receiver: Receiver
) -> None:
    # A short requeue window makes the schedulers republish work the workers already hold,
    # so the claim, not luck, is what keeps attempts apart.
    # The flaky endpoint's 40 failures would open its circuit, which then lets one probe
    # through per cooldown: a breaker test of its own (test_isolation.py), kept out here.
    stack = fresh_stack(
        backend,
        HOOKRELAY_REQUEUE_AFTER="0.5",
        HOOKRELAY_LEASE_SECONDS=str(LEASE),
        HOOKRELAY_CIRCUIT_FAILURES="1000",
    ).start(workers=3)
    stack.run("scheduler", name="scheduler-2")
    tenant = stack.tenant()
    flaky, steady = uuid.uuid4().hex[:12], uuid.uuid4().hex[:12]
    flaky_ep = stack.endpoint(tenant, receiver.url(flaky, fail=40, sleep=0.1))
    steady_ep = stack.endpoint(tenant, receiver.url(steady, sleep=0.1))

    flaky_ids = ingest_many(stack, tenant, flaky_ep["id"], 100)
    steady_ids = ingest_many(stack, tenant, steady_ep["id"], 100)

    assert_at_least_once(stack, receiver, steady, steady_ids)
    assert_at_least_once(stack, receiver, flaky, flaky_ids)
    windows: dict[str, list[tuple[float, float]]] = defaultdict(list)
    for request in receiver.received(flaky) + receiver.received(steady):
        windows[request.headers["webhook-id"]].append((request.at, request.done))
    for delivery_id, spans in windows.items():
        for (_, first_end), (second_start, _) in itertools.pairwise(sorted(spans)):
            assert second_start >= first_end, f"{delivery_id} was attempted twice at once"
    for delivery_id in steady_ids:
        # A second send of a delivery that never failed is legitimate only after the first
        # worker's lease ran out (a worker starved on a loaded machine counts as dead).
        starts = sorted(start for start, _ in windows[delivery_id])
        for first, second in itertools.pairwise(starts):
            assert second - first >= LEASE - 0.5, f"{delivery_id} resent before its lease ended"
    sends = sum(len(spans) for spans in windows.values())
    print(f"\n{backend}: 200 deliveries, {sends} sends, 0 overlapping, 2 schedulers, 3 workers")
