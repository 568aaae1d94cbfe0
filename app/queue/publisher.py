"""The one call the rest of hookrelay makes: `Publisher.publish(delivery_ids, queue=None)`.

It never raises: a publish that fails is logged and left to the scheduler. Per broker it
takes the cheapest way that keeps a message counted as sent only once the broker has it:
on Redis a single message straight on a channel and chunks pipelined, on RabbitMQ confirms
collected per chunk (`confirms`).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable
from contextlib import AbstractContextManager, nullcontext
from typing import Any

from celery import Celery
from kombu import Connection, Producer

from app.queue.confirms import confirms_each_publish, publish_confirmed
from app.queue.message import CHUNK, TaskMessages, chunks
from app.queue.redis_transport import TRANSPORT

log = logging.getLogger("app.queue")  # one logger name for the whole queue package


class Publisher:
    """Publishes one `deliveries.deliver` task per delivery id, never raising."""

    def __init__(self, celery: Celery) -> None:
        self._celery = celery
        self._messages = TaskMessages(celery)
        self._lock = threading.Lock()
        self._redis: Any = None  # the channel single messages go out on, on Redis

    def publish(self, delivery_ids: Iterable[str], queue: str | None = None) -> int:
        """Return how many were published; failures are logged and left to the scheduler.

        `queue` picks the lane (a name from `task_queues`); None is the default queue.
        """
        ids = list(delivery_ids)
        if not ids:
            return 0
        sent = 0
        try:
            if len(ids) == 1 and (channel := self._redis_channel()) is not None:
                self._messages.put(channel, ids[0], queue or self._celery.conf.task_default_queue)
                return 1
            with self._celery.producer_or_acquire() as producer:
                if len(ids) > 1 and confirms_each_publish(producer.connection):
                    timeout = float(self._celery.conf.broker_connection_timeout or 3)
                    return publish_confirmed(
                        producer, self._messages, ids, queue, timeout, self._retry_policy()
                    )
                # only the default lane's declaration is looked up; the retry lane declares
                declared = queue is None and self._declared(producer.connection)
                for chunk in chunks(ids):
                    # On Redis one pipeline per chunk instead of one LPUSH round trip per
                    # task; a failed flush raises, and the scheduler re-enqueues the chunk.
                    with _batch(producer, len(chunk)):
                        for n, delivery_id in enumerate(chunk):
                            self._messages.send(
                                producer,
                                delivery_id,
                                declare=n == 0 and not declared,
                                queue=queue,
                            )
                    sent += len(chunk)
        except Exception:
            log.warning(
                "enqueue failed; the scheduler will re-enqueue", extra={"count": len(ids) - sent}
            )
        return sent

    def _redis_channel(self) -> Any:
        """On Redis, one channel of this publisher's own for single messages (a single send's
        publish), opened on first use; None on other brokers. A Redis channel is safe to
        share between threads: it publishes through one thread-safe client (`redis_transport`).
        """
        if self._celery.conf.broker_transport != TRANSPORT:
            return None
        with self._lock:
            if self._redis is None:
                self._redis = self._celery.connection_for_write().default_channel
            return self._redis

    def ping(self) -> None:
        """Raise unless the broker accepts a connection (for readiness checks)."""
        with self._celery.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, interval_start=0, interval_step=0.2, timeout=3)

    def _declared(self, conn: Connection) -> bool:
        """Whether kombu has declared the queue on this connection already.

        kombu remembers what it declared on a connection (until it reconnects) and then
        skips the declaration, but only after copying and binding the queue for the check:
        a quarter of the CPU of publishing one message. This reads the same record first.
        """
        queue = self._celery.amqp.default_queue
        # kombu types `declared_entities` by its class default, None; every Connection sets one.
        declared: set[int] = conn.declared_entities  # type: ignore[assignment]
        return queue.can_cache_declaration and hash(queue) in declared

    def _retry_policy(self) -> dict[str, Any]:
        policy = dict(self._celery.conf.task_publish_retry_policy or {})
        return {
            key: policy[key]
            for key in ("max_retries", "interval_start", "interval_step", "interval_max")
            if key in policy
        }


def _batch(producer: Producer, size: int) -> AbstractContextManager[object]:
    """Kombu's publish batch (5.7+): pipelined on Redis, immediate on other transports.

    A single message goes out directly: the batch's pipeline only adds work for one.
    """
    batch = getattr(producer, "batch", None)
    return batch(max_size=CHUNK) if batch is not None and size > 1 else nullcontext()
