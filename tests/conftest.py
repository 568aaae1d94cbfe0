"""Fixtures: a real receiver, and whole hookrelay stacks per backend (sqlite, pg-redis,
pg-rabbitmq), each started once per session from the Procfile."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.support.receiver import Receiver
from tests.support.services import need
from tests.support.stack import BACKENDS, Stack, build

TEST_ENCRYPTION_KEY = "pRHrDyn0DJcx5Iq7Mwa1Mri4tcwF6ANt4TZAdo3nIaI="


def pytest_configure(config: pytest.Config) -> None:
    # One encryption key for the test process and every process it starts, so each side
    # reads the endpoint secrets the other wrote.
    os.environ.setdefault("HOOKRELAY_ENCRYPTION_KEYS", TEST_ENCRYPTION_KEY)


@pytest.fixture(scope="session")
def receiver() -> Iterator[Receiver]:
    server = Receiver().start()
    yield server
    server.stop()


@pytest.fixture(scope="session", params=list(BACKENDS))
def stack(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    """A running web + worker + scheduler on one backend, shared by the tests of a session."""
    name = request.param
    need(*BACKENDS[name][0])
    running = build(name, tmp_path_factory.mktemp(name))
    try:
        running.start()
        yield running
    finally:
        running.stop()


@pytest.fixture
def fresh_stack(tmp_path: Path) -> Iterator[Callable[..., Stack]]:
    """Prepare a private stack for tests that kill or restart processes; caller picks a backend."""
    stacks: list[Stack] = []

    def make(name: str, **overrides: str) -> Stack:
        need(*BACKENDS[name][0])
        created = build(name, tmp_path / name, **overrides)
        stacks.append(created)
        return created

    yield make
    for created in stacks:
        created.stop()
