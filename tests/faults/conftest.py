"""Private brokers and databases that a fault test may stop and start at will."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.support.private import PrivatePostgres, PrivateRabbit, PrivateRedis
from tests.support.services import need


@pytest.fixture
def private_broker(tmp_path: Path) -> Iterator[Callable[[str], PrivateRedis | PrivateRabbit]]:
    """Start a private Redis (`pg-redis`) or RabbitMQ (`pg-rabbitmq`) for this test."""
    started: list[PrivateRedis | PrivateRabbit] = []

    def make(backend: str) -> PrivateRedis | PrivateRabbit:
        need("postgresql")
        broker = PrivateRedis(tmp_path / "redis") if backend == "pg-redis" else PrivateRabbit()
        started.append(broker)
        return broker.start()

    yield make
    for broker in started:
        if isinstance(broker, PrivateRabbit):
            broker.remove()
        else:
            broker.stop()


@pytest.fixture
def private_postgres() -> Iterator[PrivatePostgres]:
    need("redis")
    server = PrivatePostgres().start()
    yield server
    server.remove()
