"""The `deliveries.deliver` task: thin; the attempt logic lives in app.services.delivering."""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from dataclasses import dataclass

from celery import Celery, Task
from sqlalchemy.orm import Session, sessionmaker

from app import crypto, heap, metrics
from app.config import Settings
from app.db import make_engine, session_factory, utcnow
from app.domain import AttemptStatus, DeliveryStatus
from app.queue import DELIVER_TASK
from app.sender import Sender
from app.services import delivering
from app.services.endpoint_health import Policy


@dataclass
class WorkerRuntime:
    settings: Settings
    sessions: sessionmaker[Session]
    sender: Sender
    attempts: delivering.Attempts
    pid: int

    @classmethod
    def build(cls, settings: Settings) -> WorkerRuntime:
        crypto.configure(crypto.load_keys(settings))
        engine = make_engine(settings.database_url)
        attempts = delivering.Attempts(
            engine, settings.lease_seconds, lease_owner, policy=Policy.from_settings(settings)
        )
        return cls(
            settings,
            session_factory(engine),
            Sender(settings.allow_private_destinations, settings.allow_metadata_destinations),
            attempts,
            os.getpid(),
        )


log = logging.getLogger("hookrelay.worker")
_runtime: WorkerRuntime | None = None
_lock = threading.Lock()


def worker_runtime() -> WorkerRuntime:
    """Build the engine and HTTP pools on first use in each process (after a prefork fork)."""
    global _runtime
    with _lock:
        if _runtime is None or _runtime.pid != os.getpid():
            _runtime = WorkerRuntime.build(Settings.from_env())
            heap.freeze()  # its engine, pools and keys live as long as the process
        return _runtime


def lease_owner() -> str:
    """Unique per claimed group, so a fenced write can tell it from any later claim."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:12]}"


def deliver(delivery_id: str) -> str | None:
    """The task's body: one attempt of `delivery_id` with this process's runtime.

    A plain function, so it can be imported and run without a broker; `register_tasks`
    makes it the Celery task. Returns the new status, None if nothing was due.
    """
    rt = worker_runtime()
    return delivering.deliver(rt.attempts, rt.sender, rt.settings, delivery_id, observe)


def register_tasks(celery: Celery) -> Task:
    """Register `deliver` as `deliveries.deliver` on `celery`, acknowledged after the attempt."""
    register = celery.task(name=DELIVER_TASK, acks_late=True, reject_on_worker_lost=True)
    task: Task = register(deliver)
    return task


def observe(claim: delivering.Claim, status: str) -> None:
    """Count the attempt, time a success from acceptance, and log it with its ids."""
    delivered = status == DeliveryStatus.DELIVERED
    metrics.ATTEMPTS.labels(AttemptStatus.SUCCEEDED if delivered else AttemptStatus.FAILED).inc()
    if delivered and claim.created_at is not None:
        latency = (utcnow() - claim.created_at).total_seconds()
        metrics.DELIVERY_LATENCY.observe(max(0.0, latency))
    log.info(
        "delivery attempt finished",
        extra={
            "delivery_id": claim.delivery_id,
            "workspace_id": claim.endpoint.workspace_id,
            "status": status,
            "attempt": claim.attempt_number,
        },
    )
