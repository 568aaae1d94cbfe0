"""The `deliveries.deliver` task message, built by hand, and the chunks messages go out in.

`send_task` spends more per message on what does not apply here than on the message
itself (routing lookups, a parent-task lookup, a result object), so `TaskMessages.send`
calls the two steps it is made of. A worker cannot tell the difference:
tests/unit/test_queue.py compares the two messages field for field.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from celery import Celery
from celery.utils.nodenames import anon_nodename
from kombu import Producer
from kombu.utils import json
from kombu.utils.uuid import uuid

from app import tracing
from app.queue.config import DELIVER_TASK

PERSISTENT = 2  # the delivery mode kombu's producer stamps on every message by default
CHUNK = 100  # messages buffered per broker flush (the scheduler publishes up to 500 at once)


class TaskMessages:
    """Builds and publishes one task message per delivery id for one Celery app."""

    def __init__(self, celery: Celery) -> None:
        self._celery = celery
        self._origin = anon_nodename()  # the message's `origin` header, as send_task sets it

    def send(
        self,
        producer: Producer,
        delivery_id: str,
        retry: bool | None = None,
        declare: bool = True,
        queue: str | None = None,
    ) -> None:
        """Build and publish one task message: the same message `send_task` would send.

        `declare=False` skips declaring the queue, for the messages after the first of a run
        on one connection.
        """
        message = self._build(delivery_id)
        with tracing.publishing(delivery_id, message.headers):
            self._celery.amqp.send_task_message(
                producer,
                DELIVER_TASK,
                message,
                retry=retry,
                declare=None if declare else [],
                queue=queue,
            )

    def put(self, channel: Any, delivery_id: str, queue: str) -> None:
        """Publish one task message straight on a Redis channel, by name of its queue.

        What `send` ends in, without the producer around it (its retry wrapper, declaration
        check and copying of properties: half the CPU of a single send's publish). On Redis
        a queue is a list and a message needs no exchange or declaration; a worker receives
        the same message as from `send` (tests/unit/test_queue.py).
        """
        message = self._build(delivery_id)
        with tracing.publishing(delivery_id, message.headers):
            body = json.dumps(message.body)
            properties = {**message.properties, "delivery_mode": PERSISTENT}
            raw = channel.prepare_message(
                body, 0, "application/json", "utf-8", message.headers, properties
            )
            channel.basic_publish(raw, "", queue)

    def _build(self, delivery_id: str) -> Any:
        """The task message; the reprs are given up front because computing them costs more
        than the rest of the message."""
        args = [delivery_id]
        return self._celery.amqp.create_task_message(
            uuid(),
            DELIVER_TASK,
            args,
            {},
            reply_to=self._celery.thread_oid,
            origin=self._origin,
            argsrepr=repr(args),
            kwargsrepr="{}",
            ignore_result=None,
        )


def chunks(items: list[str], size: int = CHUNK) -> Iterator[list[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
