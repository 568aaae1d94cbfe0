"""The worker's task, imported and run directly: no broker, a real database and receiver."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from celery import Celery
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from app.models import Delivery
from app.queue import DELIVER_TASK
from tasks import delivery
from tests.support import seed
from tests.support.receiver import Receiver


@pytest.fixture
def worker_env(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The environment a worker process reads, pointed at the test database."""
    monkeypatch.setenv("DATABASE_URL", engine.url.render_as_string(hide_password=False))
    monkeypatch.setenv("HOOKRELAY_ALLOW_PRIVATE_DESTINATIONS", "true")
    monkeypatch.setattr(delivery, "_runtime", None)  # built afresh from that environment
    yield
    if delivery._runtime is not None:
        delivery._runtime.sessions.kw["bind"].dispose()


def _due(sessions: sessionmaker[Session], receiver: Receiver, count: int) -> tuple[str, list[str]]:
    name = f"task-{uuid.uuid4().hex[:8]}"
    key, endpoint_id = seed.endpoint(sessions, receiver.url(name))
    ids = seed.deliveries(sessions, key, endpoint_id, *({"n": n} for n in range(count)))
    return name, ids


def _status(sessions: sessionmaker[Session], delivery_id: str) -> str:
    with sessions() as session:
        return session.get_one(Delivery, delivery_id).status


def test_the_task_body_runs_one_delivery(
    worker_env: None, sessions: sessionmaker[Session], receiver: Receiver
) -> None:
    name, [delivery_id] = _due(sessions, receiver, 1)

    assert delivery.deliver(delivery_id) == "delivered"
    assert delivery.deliver(delivery_id) is None  # a message delivered twice: the claim skips it

    assert len(receiver.received(name)) == 1
    assert _status(sessions, delivery_id) == "delivered"


def test_the_registered_task_keeps_its_name_and_late_acks_and_runs(
    worker_env: None, sessions: sessionmaker[Session], receiver: Receiver
) -> None:
    celery = Celery("hookrelay-test", broker="memory://", set_as_current=False)
    task = delivery.register_tasks(celery)
    name, [delivery_id] = _due(sessions, receiver, 1)

    registered = celery.tasks[DELIVER_TASK]
    assert (registered.acks_late, registered.reject_on_worker_lost) == (True, True)
    assert registered.run is delivery.deliver
    assert task.apply(args=[delivery_id]).get() == "delivered"
    assert len(receiver.received(name)) == 1
