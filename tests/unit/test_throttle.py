"""The batch token bucket: burst, refill, the queue of waiters and the wait bound.

Each case runs on the in-process store and, where Redis answers, on the Lua script, with an
injected clock, so both stores are held to the same behaviour.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable

import pytest
import redis

from app.throttle import Bucket, BucketStore, Grant, MemoryBuckets, RedisBuckets
from tests.support.services import REDIS_URL, need

T0 = 1_800_000_000.0


@pytest.fixture(params=["memory", "redis"])
def reserve(request: pytest.FixtureRequest) -> Callable[[Bucket, float], Grant]:
    store: BucketStore
    if request.param == "redis":
        need("redis")
        store = RedisBuckets(redis.Redis.from_url(REDIS_URL))
    else:
        store = MemoryBuckets()
    key = f"test/{uuid.uuid4().hex}"
    return lambda bucket, now: store.reserve(key, bucket, now)


def test_burst_passes_then_a_refused_request_learns_when_a_token_comes(
    reserve: Callable[[Bucket, float], Grant],
) -> None:
    bucket = Bucket(burst=3, rate=0.5, queue=100, max_wait=0)
    assert [reserve(bucket, T0) for _ in range(3)] == [Grant(True, 0.0)] * 3
    refused = reserve(bucket, T0 + 0.5)
    assert not refused.granted and refused.wait == pytest.approx(1.5)
    assert reserve(bucket, T0 + 2) == Grant(True, 0.0)  # the refusal took nothing
    assert not reserve(bucket, T0 + 2).granted


def test_refill_never_exceeds_the_burst(reserve: Callable[[Bucket, float], Grant]) -> None:
    bucket = Bucket(burst=2, rate=1, queue=100, max_wait=0)
    reserve(bucket, T0)
    granted = [reserve(bucket, T0 + 3600).granted for _ in range(3)]
    assert granted == [True, True, False]


def test_an_empty_bucket_queues_within_the_wait_bound(
    reserve: Callable[[Bucket, float], Grant],
) -> None:
    bucket = Bucket(burst=1, rate=1, queue=100, max_wait=2.5)
    assert reserve(bucket, T0) == Grant(True, 0.0)
    waits = [reserve(bucket, T0) for _ in range(3)]
    assert [w.granted for w in waits] == [True, True, False]
    assert [w.wait for w in waits] == pytest.approx([1.0, 2.0, 3.0])


def test_the_queue_is_bounded(reserve: Callable[[Bucket, float], Grant]) -> None:
    bucket = Bucket(burst=1, rate=10, queue=2, max_wait=60)
    assert reserve(bucket, T0).wait == 0
    assert [reserve(bucket, T0).granted for _ in range(3)] == [True, True, False]
    # once the first waiter has had its token, one place in the queue is free again
    assert reserve(bucket, T0 + 0.15).granted
