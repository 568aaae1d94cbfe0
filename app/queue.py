"""The queue between store and deliver: Celery configuration and best-effort publishing.

Publishing is a notification, not the record: the delivery row is committed first, and a
publish that fails is repaired by the scheduler, which re-enqueues what was never picked up.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from contextlib import AbstractContextManager, nullcontext
from typing import Any

from celery import Celery
from kombu import Producer

from app.config import Settings

log = logging.getLogger(__name__)
DELIVER_TASK = "deliveries.deliver"
CHUNK = 100  # messages buffered per broker flush (the scheduler publishes up to 500 at once)


def celery_config(settings: Settings) -> dict[str, Any]:
    """Celery settings for every process that publishes or consumes."""
    transport_options: dict[str, Any] = {}
    if settings.broker_url.startswith("sqla+"):
        transport_options = {"connect_args": {"timeout": 30}}
    elif settings.broker_url.startswith(("amqp", "pyamqp")):
        # Publisher confirms: send_task returns only once RabbitMQ has the message.
        transport_options = {"confirm_publish": True}
    elif settings.broker_url.startswith(("redis", "rediss")):
        # Unacknowledged messages of a dead worker come back after this; the scheduler's
        # lease reclaim usually gets there first, and the claim makes the duplicate a no-op.
        transport_options = {"visibility_timeout": 3600}
    return {
        "broker_url": settings.broker_url,
        "broker_transport_options": transport_options,
        "broker_connection_retry_on_startup": True,
        "broker_connection_timeout": 3,
        "task_default_queue": settings.queue_name,
        "task_serializer": "json",
        "accept_content": ["json"],
        "task_ignore_result": True,
        "result_backend": None,
        # Acknowledge after the attempt is recorded, and hand the message back if the worker
        # process dies mid-attempt: together with leases, a crash never loses a delivery.
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        "worker_prefetch_multiplier": 4,
        # After a broker reconnect Celery shrinks the prefetch window and widens it again as
        # acks succeed; acks of tasks begun on the old connection fail, so with the thread
        # pool the window stayed shrunk and the worker stalled. The claim makes any
        # redelivered message harmless, so keep the full window.
        "worker_enable_prefetch_count_reduction": False,
        "task_publish_retry": True,
        "task_publish_retry_policy": {
            "max_retries": 2,
            "interval_start": 0.1,
            "interval_step": 0.2,
            "interval_max": 0.5,
        },
        "worker_hijack_root_logger": False,
        "worker_send_task_events": False,
    }


def make_celery(settings: Settings, name: str = "hookrelay") -> Celery:
    celery = Celery(name, set_as_current=False)
    celery.conf.update(celery_config(settings))
    return celery


class Publisher:
    """Publishes one `deliveries.deliver` task per delivery id, never raising."""

    def __init__(self, celery: Celery) -> None:
        self._celery = celery

    def publish(self, delivery_ids: Iterable[str]) -> int:
        """Return how many were published; failures are logged and left to the scheduler."""
        ids = list(delivery_ids)
        if not ids:
            return 0
        sent = 0
        try:
            with self._celery.producer_or_acquire() as producer:
                for chunk in _chunks(ids, CHUNK):
                    # On Redis one pipeline per chunk instead of one LPUSH round trip per
                    # task; a failed flush raises, and the scheduler re-enqueues the chunk.
                    with _batch(producer, len(chunk)):
                        for delivery_id in chunk:
                            self._send(producer, delivery_id)
                    sent += len(chunk)
        except Exception:
            log.warning(
                "enqueue failed; the scheduler will re-enqueue", extra={"count": len(ids) - sent}
            )
        return sent

    def _send(self, producer: Producer, delivery_id: str) -> None:
        # The reprs are what Celery would compute with saferepr, given up front because
        # computing them costs more than building the rest of the message; the web and the
        # scheduler are never inside a task, so there is no parent to add the result to.
        args = [delivery_id]
        self._celery.send_task(
            DELIVER_TASK,
            args=args,
            producer=producer,
            argsrepr=repr(args),
            kwargsrepr="{}",
            add_to_parent=False,
        )

    def ping(self) -> None:
        """Raise unless the broker accepts a connection (for readiness checks)."""
        with self._celery.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, interval_start=0, interval_step=0.2, timeout=3)


def _chunks(items: list[str], size: int) -> Iterator[list[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _batch(producer: Producer, size: int) -> AbstractContextManager[object]:
    """Kombu's publish batch (5.7+): pipelined on Redis, immediate on other transports.

    A single message goes out directly: the batch's pipeline only adds work for one.
    """
    batch = getattr(producer, "batch", None)
    return batch(max_size=CHUNK) if batch is not None and size > 1 else nullcontext()
