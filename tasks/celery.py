"""Worker entry point: `celery -A tasks.celery worker`."""

from __future__ import annotations

import logging
from typing import Any

from celery import signals
from prometheus_client import start_http_server
from sqlalchemy import text

from app import heap, logs, tracing
from app.config import Settings
from app.queue import make_celery
from tasks.delivery import register_tasks, worker_runtime
from tasks.health import Heartbeat, start_heartbeat

settings = Settings.from_env()
app = make_celery(settings)
register_tasks(app)
heartbeats: list[Heartbeat] = []
if tracing.setup("worker"):
    tracing.instrument_worker()


@signals.setup_logging.connect
def _json_logs(loglevel: Any = None, **_kwargs: Any) -> None:
    """Replace Celery's log set-up: the worker logs JSON like every other process.

    Celery's per-task "received"/"succeeded" lines name the delivery only inside a task
    argument repr and never the workspace; the task logs its own line with both ids instead.
    """
    logs.configure(loglevel or "INFO")
    for name in ("celery.worker.strategy", "celery.app.trace"):
        logging.getLogger(name).setLevel(logging.WARNING)


@signals.worker_ready.connect
def _on_ready(sender: Any = None, **_kwargs: Any) -> None:
    """Serve this worker's metrics and start its heartbeat once it consumes, and keep its
    start-up objects out of every full collection (`app.heap`)."""
    heap.freeze()
    if settings.worker_metrics_port:
        start_http_server(settings.worker_metrics_port)
    node = getattr(sender, "hostname", None) or "worker"
    heartbeats.append(start_heartbeat(settings, node, _database_answers))


@signals.worker_shutdown.connect
def _on_shutdown(**_kwargs: Any) -> None:
    """A clean stop removes the heartbeat at once rather than letting it go stale."""
    while heartbeats:
        heartbeats.pop().stop()


def _database_answers() -> None:
    with worker_runtime().sessions() as session:
        session.execute(text("SELECT 1"))
