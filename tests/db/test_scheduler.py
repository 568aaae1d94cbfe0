"""One scheduler pass against a real database: what it publishes, to which lane, and once."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from queue import Empty

import pytest
from celery import Celery
from sqlalchemy import update
from sqlalchemy.orm import Session, sessionmaker

from app.config import Settings
from app.db import make_engine, session_factory, utcnow
from app.models import Delivery
from app.queue import Publisher, make_celery
from tasks.scheduler import run_pass
from tests.db.conftest import migrate
from tests.support import seed


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings.from_env(
        {
            "DATABASE_URL": f"sqlite:///{tmp_path / 'scheduler.db'}",
            "BROKER_URL": "memory://",
            "HOOKRELAY_QUEUE": f"scheduler-{uuid.uuid4().hex[:8]}",
        }
    )


@pytest.fixture
def sessions(settings: Settings) -> Iterator[sessionmaker[Session]]:
    """A database of this test's own: a pass takes everything due in it."""
    engine = make_engine(settings.database_url)
    migrate(engine)
    yield session_factory(engine)
    engine.dispose()


@pytest.fixture
def celery(settings: Settings) -> Iterator[Celery]:
    app = make_celery(settings)
    yield app
    app.close()


def _published(celery: Celery, queue_name: str) -> list[str]:
    """The delivery ids waiting on `queue_name`, taken off it."""
    ids = []
    with celery.connection_for_write() as conn:
        queue = conn.SimpleQueue(queue_name)
        try:
            while True:
                message = queue.get_nowait()
                message.ack()
                ids.append(message.decode()[0][0])
        except Empty:
            pass
        queue.close()
    return ids


def _set(sessions: sessionmaker[Session], delivery_id: str, **values: object) -> None:
    with sessions.begin() as session:
        session.execute(update(Delivery).where(Delivery.id == delivery_id).values(**values))


def test_a_pass_publishes_what_is_due_to_its_lane_once(
    settings: Settings, sessions: sessionmaker[Session], celery: Celery
) -> None:
    key, endpoint_id = seed.endpoint(sessions, "http://127.0.0.1:9/")
    new, retry, later, orphan = seed.deliveries(sessions, key, endpoint_id, {}, {}, {}, {})
    now = utcnow()
    for delivery_id in (new, retry, later, orphan):  # published at ingest, but long ago
        _set(sessions, delivery_id, enqueued_at=now - timedelta(seconds=settings.requeue_after + 1))
    _set(sessions, retry, status="scheduled_retry", attempts=1)
    _set(sessions, later, status="scheduled_retry", next_attempt_at=now + timedelta(hours=1))
    _set(
        sessions,
        orphan,
        status="delivering",
        attempts=2,
        lease_owner="dead-worker",
        lease_expires_at=now - timedelta(seconds=1),
    )
    publisher = Publisher(celery)

    assert run_pass(sessions, publisher, settings) == 3

    assert _published(celery, settings.queue_name) == [new]
    assert sorted(_published(celery, settings.retry_queue_name)) == sorted([retry, orphan])
    assert run_pass(sessions, publisher, settings) == 0  # stamped: not published every pass
    with sessions() as session:
        stamped = session.get_one(Delivery, new).enqueued_at
    assert stamped is not None and stamped >= now


def test_a_pass_wakes_a_parked_delivery_whose_endpoint_has_room(
    settings: Settings, sessions: sessionmaker[Session], celery: Celery
) -> None:
    key, endpoint_id = seed.endpoint(sessions, "http://127.0.0.1:9/")
    [parked] = seed.deliveries(sessions, key, endpoint_id, {})
    now = utcnow()
    _set(sessions, parked, parked_at=now, enqueued_at=now)  # recent: not due by itself

    assert run_pass(sessions, Publisher(celery), settings) == 1

    assert _published(celery, settings.queue_name) == [parked]
    with sessions() as session:
        assert session.get_one(Delivery, parked).parked_at is None
