"""The `deliveries.deliver` task message, built by hand, and the chunks messages go out in.

`send_task` spends more per message on what does not apply here than on the message
itself (routing lookups, a parent-task lookup, a result object), so `TaskMessages.send`
calls the two steps it is made of. A worker cannot tell the difference:
tests/unit/test_queue.py compares the two messages field for field.
"""

from __future__ import annotations

from collections.abc import Iterator

from celery import Celery
from celery.utils.nodenames import anon_nodename
from kombu import Producer
from kombu.utils.uuid import uuid

from app import tracing
from app.queue.config import DELIVER_TASK

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

        The reprs are given up front because computing them costs more than the rest of the
        message. `declare=False` skips declaring the queue, for the messages after the first
        of a run on one connection.
        """
        amqp = self._celery.amqp
        args = [delivery_id]
        message = amqp.create_task_message(
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
        with tracing.publishing(delivery_id, message.headers):
            amqp.send_task_message(
                producer,
                DELIVER_TASK,
                message,
                retry=retry,
                declare=None if declare else [],
                queue=queue,
            )


def chunks(items: list[str], size: int = CHUNK) -> Iterator[list[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
