"""The scheduler process: enqueue due retries, lost publishes and dead workers' deliveries,
and purge finished deliveries older than the retention period.

Run as `python -m tasks.scheduler`. Several may run at once (SKIP LOCKED on PostgreSQL,
immediate transactions on SQLite); one is enough.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from datetime import timedelta
from types import FrameType

from sqlalchemy.orm import Session, sessionmaker

from app import logs, tracing
from app.config import Settings
from app.db import make_engine, session_factory, utcnow
from app.queue import Publisher, make_celery
from app.services.dispatch import take_due_lanes
from app.services.endpoint_health import Policy, wake_stranded
from app.services.operations import purge

log = logging.getLogger("hookrelay.scheduler")
BATCH = 500


def run_pass(sessions: sessionmaker[Session], publisher: Publisher, settings: Settings) -> int:
    """Enqueue everything due now, in batches; return how many were handed to the queue.

    Deliveries attempted before go to the retry lane, the others (lost publishes) to the
    first-attempt lane. Then parked deliveries of endpoints with free slots are woken: at
    the end of a cooldown or a pause, or where a wake-up was missed.
    """
    total = 0
    while True:
        with sessions.begin() as session:
            lanes = take_due_lanes(session, utcnow(), settings.requeue_after, limit=BATCH)
        total += publisher.publish(lanes.first)
        total += publisher.publish(lanes.retries, queue=settings.retry_queue_name)
        if len(lanes) < BATCH:
            break
    policy = Policy.from_settings(settings)
    after: str | None = ""  # pages of endpoints with parked deliveries, by id
    while after is not None:
        with sessions.begin() as session:
            woken = wake_stranded(session, policy, utcnow(), after)
        total += publisher.publish(woken.ids)
        after = woken.next_after
    return total


def main() -> None:
    # First of all, so a stop asked for while starting up is a clean stop too.
    stop = threading.Event()

    def _stop(_signum: int, _frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    logs.configure()
    tracing.setup("scheduler")
    settings = Settings.from_env()
    sessions = session_factory(make_engine(settings.database_url))
    publisher = Publisher(make_celery(settings))
    log.info("scheduler started, every %.1fs", settings.scheduler_interval)
    next_purge = time.monotonic()
    while not stop.is_set():
        try:
            count = run_pass(sessions, publisher, settings)
            if count:
                log.info("enqueued %d deliveries", count)
            if time.monotonic() >= next_purge:
                next_purge = time.monotonic() + settings.purge_interval
                run_purge(sessions, settings)
        except Exception as exc:  # database or broker down: keep going, they come back
            log.warning("scheduler pass failed: %s", type(exc).__name__)
        stop.wait(settings.scheduler_interval)
    log.info("scheduler stopped")


def run_purge(sessions: sessionmaker[Session], settings: Settings) -> int:
    """Delete finished deliveries past the retention period, in bounded batches."""
    before = utcnow() - timedelta(days=settings.retention_days)
    removed = purge(sessions, before)
    if removed:
        log.info("purged %d deliveries older than %s", removed, before.isoformat())
    return removed


if __name__ == "__main__":
    main()
