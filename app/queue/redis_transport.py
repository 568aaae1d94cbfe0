"""kombu's Redis transport, with one client per channel for publishing instead of one per message.

kombu builds a new `redis.Redis` object for every message it publishes (`conn_or_acquire`
without a client): building it, with its table of response callbacks, cost about a third
of a single send's publish. A client is only a front for the channel's connection pool and
is safe to share between threads, so the channel keeps one.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from functools import cached_property
from typing import Any

from kombu.transport import redis

TRANSPORT = f"{__name__}:Transport"


class Channel(redis.Channel):  # type: ignore[misc]
    @cached_property
    def _publishing_client(self) -> Any:
        return self._create_client()

    @contextmanager
    def conn_or_acquire(self, client: Any = None) -> Iterator[Any]:
        yield client or self._publishing_client


class Transport(redis.Transport):  # type: ignore[misc]
    Channel = Channel
