"""A token bucket with a bounded queue of waiters, in process or shared through Redis.

The `limits` library offers fixed, moving and sliding windows but no token bucket with a
queue, so the bucket is kept here. Its state is one number that may go negative: a request
that finds no token reserves a future one, and `-tokens` is how many are already waiting.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass
from typing import Any, Protocol


@dataclass(frozen=True)
class Bucket:
    burst: int  # tokens when full
    rate: float  # tokens added per second
    queue: int  # requests that may wait at once
    max_wait: float  # longest wait a request accepts, in seconds


@dataclass(frozen=True)
class Grant:
    """`granted`: go on after sleeping `wait` seconds; otherwise a token comes in `wait`."""

    granted: bool
    wait: float


class BucketStore(Protocol):
    def reserve(self, key: str, bucket: Bucket, now: float) -> Grant: ...


def step(bucket: Bucket, tokens: float, elapsed: float) -> tuple[Grant, float]:
    """Refill for `elapsed` seconds, then take a token now, reserve one, or refuse."""
    tokens = min(float(bucket.burst), tokens + max(0.0, elapsed) * bucket.rate)
    if tokens >= 1:
        return Grant(True, 0.0), tokens - 1
    wait = (1 - tokens) / bucket.rate
    waiting = max(0, math.ceil(-tokens))
    if waiting >= bucket.queue or wait > bucket.max_wait:
        return Grant(False, wait), tokens
    return Grant(True, wait), tokens - 1


class MemoryBuckets:
    """Buckets of this process only: the embedded default's store."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._state: dict[str, tuple[float, float]] = {}

    def reserve(self, key: str, bucket: Bucket, now: float) -> Grant:
        with self._lock:
            tokens, stamp = self._state.get(key, (float(bucket.burst), now))
            grant, tokens = step(bucket, tokens, now - stamp)
            self._state[key] = (tokens, max(stamp, now))
            return grant


# The same step as `step`, atomically in Redis, so every web process shares one bucket.
RESERVE = """
local burst, rate, queue = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local max_wait, now = tonumber(ARGV[4]), tonumber(ARGV[5])
local state = redis.call('HMGET', KEYS[1], 't', 's')
local stamp = tonumber(state[2]) or now
local tokens = math.min(burst, (tonumber(state[1]) or burst) + math.max(0, now - stamp) * rate)
local wait = 0
if tokens < 1 then
  wait = (1 - tokens) / rate
  if math.max(0, math.ceil(-tokens)) >= queue or wait > max_wait then
    return {0, tostring(wait)}
  end
end
redis.call('HSET', KEYS[1], 't', tostring(tokens - 1), 's', tostring(math.max(stamp, now)))
redis.call('EXPIRE', KEYS[1], math.ceil((burst + queue) / rate) + 1)
return {1, tostring(wait)}
"""


class RedisBuckets:
    """Buckets in Redis; `now` comes from the caller, so the web hosts' clocks must agree."""

    def __init__(self, client: Any) -> None:
        self._script = client.register_script(RESERVE)

    def reserve(self, key: str, bucket: Bucket, now: float) -> Grant:
        args = [bucket.burst, bucket.rate, bucket.queue, bucket.max_wait, repr(now)]
        granted, wait = self._script(keys=[key], args=args)
        return Grant(bool(int(granted)), float(wait))
