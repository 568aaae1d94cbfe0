"""The API's rate limits: `limits` windows for ingest and management, a bucket for batches.

Every web process opens the same store (`HOOKRELAY_RATE_LIMIT_STORAGE`), so with Redis the
limits hold for the whole fleet; `memory://` keeps them per process.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable

from limits import RateLimitItem, parse_many
from limits.storage import MemoryStorage, RedisStorage, Storage, storage_from_string
from limits.strategies import MovingWindowRateLimiter

from app.config import Settings
from app.errors import APIError
from app.throttle import Bucket, BucketStore, MemoryBuckets, RedisBuckets

PREFIX = "hookrelay"
SWEEP_EVERY = 1.0  # seconds between two sweeps of the in-process store's expired entries


def rate_limited(retry_after: float, what: str) -> APIError:
    """A 429 whose `Retry-After` (whole seconds, at least 1) says when to come back."""
    seconds = max(1, math.ceil(retry_after))
    return APIError(
        429,
        "rate_limited",
        f"too many {what}; retry in {seconds} s",
        {"Retry-After": str(seconds)},
    )


def _items(raw: str | None) -> list[RateLimitItem]:
    return parse_many(raw) if raw else []


class InProcessStorage(MemoryStorage):
    """`limits`' in-process store, swept inline once a second instead of by a new thread.

    `MemoryStorage` drops expired entries from a `threading.Timer` that it starts again
    whenever the previous one has fired, 10 ms later: under steady traffic a new thread
    every request or two, which cost more CPU than the rest of the rate limiting. Windows
    are judged from the entries' own timestamps, never by the sweep, so every limit counts
    exactly as before; the sweep only frees what has expired.
    """

    def __init__(
        self, uri: str | None = None, wrap_exceptions: bool = False, **options: str
    ) -> None:
        super().__init__(uri, wrap_exceptions, **options)
        self._next_sweep = 0.0
        self._sweep_lock = threading.Lock()

    def _MemoryStorage__schedule_expiry(self) -> None:  # replaces the timer's restart
        now = time.monotonic()
        if now < self._next_sweep or not self._sweep_lock.acquire(blocking=False):
            return
        try:
            self._next_sweep = now + SWEEP_EVERY
            self._MemoryStorage__expire_events()  # type: ignore[attr-defined]
        finally:
            self._sweep_lock.release()


def _open(uri: str) -> Storage:
    if uri.startswith("memory://"):
        return InProcessStorage()
    store = storage_from_string(uri)
    if not isinstance(store, Storage):  # an `async+` scheme: its calls would return coroutines
        raise ValueError(f"rate-limit store {uri.split(':', 1)[0]!r} is asynchronous")
    return store


class RateLimits:
    """The limits of one web process, opened on the shared store."""

    def __init__(self, settings: Settings, clock: Callable[[], float] = time.time) -> None:
        storage: Storage = _open(settings.rate_limit_storage)
        self._windows = MovingWindowRateLimiter(storage)
        self._ingest_workspace = _items(settings.ingest_workspace_limit)
        self._ingest_key = _items(settings.ingest_key_limit)
        self._management = _items(settings.management_limit)
        self._sign_in_address = _items(settings.sign_in_limit)
        self._sign_in_token = _items(settings.sign_in_token_limit)
        self._bucket = Bucket(
            settings.batch_burst, settings.batch_rate, settings.batch_queue, settings.batch_max_wait
        )
        self._buckets: BucketStore = (
            RedisBuckets(storage.storage) if isinstance(storage, RedisStorage) else MemoryBuckets()
        )
        self._clock = clock

    def ingest(self, workspace_id: str, api_key_id: str) -> None:
        """Count one ingest request against its workspace and its API key, or raise 429."""
        # The key first: a key over its own limit does not eat its workspace's allowance.
        self._hit(self._ingest_key, "ingest-key", api_key_id, "ingest requests")
        self._hit(self._ingest_workspace, "ingest-workspace", workspace_id, "ingest requests")

    def management(self, token_digest: str) -> None:
        """Count one management call of a token, or raise 429."""
        self._hit(self._management, "management", token_digest, "management requests")

    def sign_in(self, address: str, token_prefix: str) -> None:
        """Raise 429 while an address or a token prefix has no failed sign-ins left."""
        for items, scope, who in self._sign_in_keys(address, token_prefix):
            for item in items:
                if not self._windows.test(item, PREFIX, scope, who):
                    stats = self._windows.get_window_stats(item, PREFIX, scope, who)
                    raise rate_limited(stats.reset_time - self._clock(), "failed sign-ins")

    def sign_in_failed(self, address: str, token_prefix: str) -> None:
        """Count a failed sign-in against its address and the token prefix it tried."""
        for items, scope, who in self._sign_in_keys(address, token_prefix):
            for item in items:
                self._windows.hit(item, PREFIX, scope, who)

    def _sign_in_keys(
        self, address: str, token_prefix: str
    ) -> list[tuple[list[RateLimitItem], str, str]]:
        # Per address against guessing from one place; per prefix against guessing one
        # token from many (the prefix is what a leaked list of credentials would show).
        return [
            (self._sign_in_address, "sign-in-address", address),
            (self._sign_in_token, "sign-in-token", token_prefix),
        ]

    def batch(self, workspace_id: str) -> float:
        """Reserve a batch token: the seconds to wait for it, or raise 429 when refused."""
        key = f"{PREFIX}/batch/{workspace_id}"
        grant = self._buckets.reserve(key, self._bucket, self._clock())
        if not grant.granted:
            raise rate_limited(grant.wait, "batch requests")
        return grant.wait

    def _hit(self, items: list[RateLimitItem], scope: str, who: str, what: str) -> None:
        for item in items:
            if not self._windows.hit(item, PREFIX, scope, who):
                stats = self._windows.get_window_stats(item, PREFIX, scope, who)
                raise rate_limited(stats.reset_time - self._clock(), what)
