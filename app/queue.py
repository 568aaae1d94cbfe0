"""The queue between store and deliver: Celery configuration and best-effort publishing.

Publishing is a notification, not the record: the delivery row is committed first, and a
publish that fails is repaired by the scheduler, which re-enqueues what was never picked up.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Iterator
from contextlib import AbstractContextManager, nullcontext
from typing import Any

from celery import Celery
from celery.utils.nodenames import anon_nodename
from kombu import Connection, Exchange, Producer, Queue
from kombu.utils.uuid import uuid

from app import tracing
from app.config import Settings
from app.redis_broker import TRANSPORT

log = logging.getLogger(__name__)
DELIVER_TASK = "deliveries.deliver"
CHUNK = 100  # messages buffered per broker flush (the scheduler publishes up to 500 at once)


def celery_config(settings: Settings) -> dict[str, Any]:
    """Celery settings for every process that publishes or consumes."""
    transport_options: dict[str, Any] = {}
    if settings.broker_url.startswith("sqla+"):
        transport_options = {"connect_args": {"timeout": 30}}
    elif settings.broker_url.startswith(("amqp", "pyamqp")):
        # Publisher confirms: a publish returns only once RabbitMQ has the message.
        transport_options = {"confirm_publish": True}
    elif settings.broker_url.startswith(("redis", "rediss")):
        # No ack emulation: kombu would keep every message a worker holds in a Redis hash
        # until its ack, so that a dead worker's messages come back after a visibility
        # timeout. The database already does that job (the scheduler republishes what was
        # not picked up within `requeue_after` and reclaims expired leases), and the
        # bookkeeping cost two Redis pipelines and ~40 % of a worker's CPU per delivery. A
        # worker stopped normally still hands back what it prefetched.
        transport_options = {"ack_emulation": False}
    return {
        "broker_url": settings.broker_url,
        # None: the URL's scheme picks kombu's transport.
        "broker_transport": TRANSPORT if settings.broker_url.startswith("redis://") else None,
        "broker_transport_options": transport_options,
        "broker_connection_retry_on_startup": True,
        "broker_connection_timeout": 3,
        "task_default_queue": settings.queue_name,
        # Two lanes, both consumed by every worker: first attempts on the default queue,
        # retries (published by the scheduler) on their own, so that a storm of retries
        # shares the workers with new deliveries instead of queueing ahead of them.
        "task_queues": [
            Queue(name, Exchange(name), routing_key=name)
            for name in (settings.queue_name, settings.retry_queue_name)
        ],
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
        self._origin = anon_nodename()  # the message's `origin` header, as send_task sets it

    def publish(self, delivery_ids: Iterable[str], queue: str | None = None) -> int:
        """Return how many were published; failures are logged and left to the scheduler.

        `queue` picks the lane (a name from `task_queues`); None is the default queue.
        """
        ids = list(delivery_ids)
        if not ids:
            return 0
        sent = 0
        try:
            with self._celery.producer_or_acquire() as producer:
                if len(ids) > 1 and _confirms_each_publish(producer.connection):
                    return self._publish_confirmed(producer, ids, queue)
                # only the default lane's declaration is looked up; the retry lane declares
                declared = queue is None and self._declared(producer.connection)
                for chunk in _chunks(ids, CHUNK):
                    # On Redis one pipeline per chunk instead of one LPUSH round trip per
                    # task; a failed flush raises, and the scheduler re-enqueues the chunk.
                    with _batch(producer, len(chunk)):
                        for n, delivery_id in enumerate(chunk):
                            self._send(
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

    def _publish_confirmed(self, producer: Producer, ids: list[str], queue: str | None) -> int:
        """Publish on a channel of our own and wait once per chunk for RabbitMQ's confirms.

        With `confirm_publish` py-amqp waits for each message's ack before sending the next
        one, a round trip per message. Here a chunk goes out back to back and one wait
        collects its acks, so a message still counts as sent only once RabbitMQ confirmed
        it. Errors raise (the caller logs them); nacks and timeouts are logged here.
        """
        conn = producer.connection
        timeout = float(self._celery.conf.broker_connection_timeout or 3)
        # Reconnect if an earlier failure dropped the connection (kombu's `connection`
        # property is None just after it reconnects by itself), and through `ensure`, which
        # also revives the pooled producer, if the broker restarted since the last publish;
        # both under the retry policy send_task follows on the per-message path.
        policy = self._retry_policy()
        conn.ensure_connection(**policy)
        open_channel = conn.ensure(producer, _open_channel_without_confirm_waits, **policy)
        channel = open_channel(conn)
        confirms = _Confirms()
        channel.events["basic_ack"].add(confirms.ack)
        channel.events["basic_nack"].add(confirms.nack)
        closed = False
        try:
            channel.confirm_select(nowait=True)  # a refusal closes the channel: an error below
            # Same messages as on the pooled producer (`_send` builds them); only the
            # channel differs. No retry: a message half-sent on a connection that
            # broke is unknown, so the chunk counts as not sent and the scheduler has it.
            chunk_producer = Producer(channel, auto_declare=False)
            for chunk in _chunks(ids, CHUNK):
                nacked = confirms.nacked
                for n, delivery_id in enumerate(chunk):
                    self._send(
                        chunk_producer, delivery_id, retry=False, declare=n == 0, queue=queue
                    )
                    confirms.published += 1
                confirms.wait(conn, timeout)
                if confirms.pending or confirms.nacked > nacked:
                    log.warning(
                        "RabbitMQ did not confirm every message; the scheduler will re-enqueue",
                        extra={"count": len(ids) - confirms.acked, "nacked": confirms.nacked},
                    )
                    if confirms.pending:
                        # Timed out: the broker is not answering, so the connection is in
                        # doubt; drop it without waiting and let the next publish reconnect.
                        conn.collect()
                        return confirms.acked
            _close_channel(channel, timeout)
            closed = True
            return confirms.acked
        finally:
            if not closed:
                _abandon_channel(conn, channel)

    def _declared(self, conn: Connection) -> bool:
        """Whether kombu has declared the queue on this connection already.

        kombu remembers what it declared on a connection (until it reconnects) and then
        skips the declaration, but only after copying and binding the queue for the check:
        a quarter of the CPU of publishing one message. This reads the same record first.
        """
        queue = self._celery.amqp.default_queue
        return queue.can_cache_declaration and hash(queue) in conn.declared_entities

    def _retry_policy(self) -> dict[str, Any]:
        policy = dict(self._celery.conf.task_publish_retry_policy or {})
        return {
            key: policy[key]
            for key in ("max_retries", "interval_start", "interval_step", "interval_max")
            if key in policy
        }

    def _send(
        self,
        producer: Producer,
        delivery_id: str,
        retry: bool | None = None,
        declare: bool = True,
        queue: str | None = None,
    ) -> None:
        """Build and publish one task message: the same message `send_task` would send.

        `send_task` spends more per message on what does not apply here than on the
        message itself (routing lookups, a parent-task lookup, a result object), so this
        calls the two steps it is made of. The reprs are given up front because computing
        them costs more than the rest of the message. `declare=False` skips declaring the
        queue, for the messages after the first of a run on one connection.
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


def _confirms_each_publish(conn: Connection) -> bool:
    """Whether py-amqp would wait for a confirm after each message on this connection."""
    return conn.transport.driver_type == "amqp" and bool(
        conn.transport_options.get("confirm_publish")
    )


def _open_channel_without_confirm_waits(conn: Connection) -> Any:
    """Open a channel whose publish returns without waiting for the message's confirm.

    py-amqp reads the connection's public `confirm_publish` flag when it creates a channel
    and then makes that channel's publish wait for each ack; the flag is off only while this
    channel is created. The connection is ours alone while the pooled producer is acquired,
    and the caller puts the channel in confirm mode itself.
    """
    raw = conn.connection
    previous = raw.confirm_publish
    raw.confirm_publish = False
    try:
        return conn.channel()
    finally:
        raw.confirm_publish = previous


def _close_channel(channel: Any, timeout: float) -> None:
    """Close the channel, waiting at most `timeout` for RabbitMQ to agree."""
    with channel.connection.transport.having_timeout(timeout):
        channel.close()


def _abandon_channel(conn: Connection, channel: Any) -> None:
    """After a failure: close the channel, or drop the connection if that fails too.

    Channels left open would pile up on the pooled connection, and a connection that cannot
    even close a channel is in doubt: dropping it makes the next publish reconnect.
    """
    try:
        if channel.is_open and channel.connection is not None and conn.connected:
            _close_channel(channel, 1.0)
    except Exception:
        conn.collect()


class _Confirms:
    """RabbitMQ's acks and nacks of the messages published on one confirm-mode channel.

    Delivery tags count the channel's publishes from 1, and an ack or nack with `multiple`
    settles every tag up to its own.
    """

    def __init__(self) -> None:
        self.published = 0
        self.settled = 0  # tags 1..settled are settled, in order, as RabbitMQ confirms
        self.acked = 0
        self.nacked = 0
        self._out_of_order: dict[int, bool] = {}

    @property
    def pending(self) -> int:
        return self.published - self.settled

    def ack(self, delivery_tag: int, multiple: bool) -> None:
        self._settle(delivery_tag, multiple, acked=True)

    def nack(self, delivery_tag: int, multiple: bool) -> None:
        self._settle(delivery_tag, multiple, acked=False)

    def _settle(self, tag: int, multiple: bool, acked: bool) -> None:
        if multiple:
            for earlier in range(self.settled + 1, tag + 1):
                self._out_of_order.setdefault(earlier, acked)
        else:
            self._out_of_order[tag] = acked
        while self.settled + 1 in self._out_of_order:
            self.settled += 1
            if self._out_of_order.pop(self.settled):
                self.acked += 1
            else:
                self.nacked += 1

    def wait(self, conn: Connection, timeout: float) -> None:
        """Read confirms until every published tag is settled or `timeout` passes."""
        deadline = time.monotonic() + timeout
        while self.pending:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            try:
                conn.drain_events(timeout=remaining)
            except TimeoutError:  # socket.timeout: nothing arrived in time
                break
