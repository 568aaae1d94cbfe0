"""RabbitMQ publisher confirms, collected once per chunk instead of once per message.

With `confirm_publish` py-amqp waits for each message's ack before sending the next one, a
round trip per message. Here a chunk goes out back to back on a channel of our own and one
wait collects its acks, so a message still counts as sent only once RabbitMQ confirmed it.
This reaches into py-amqp (its channel's `confirm_publish` flag, its ack and nack events):
tests/integration/test_publish_confirms.py covers acks, nacks, a silent broker and a cut
connection.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from kombu import Connection, Producer

from app.queue.message import TaskMessages, chunks

log = logging.getLogger("app.queue")  # one logger name for the whole queue package


def confirms_each_publish(conn: Connection) -> bool:
    """Whether py-amqp would wait for a confirm after each message on this connection."""
    # kombu types `transport_options` by its class default, None; every Connection sets a dict.
    options: dict[str, Any] = conn.transport_options  # type: ignore[assignment]
    return conn.transport.driver_type == "amqp" and bool(options.get("confirm_publish"))


def publish_confirmed(
    producer: Producer,
    messages: TaskMessages,
    ids: list[str],
    queue: str | None,
    timeout: float,
    retry_policy: dict[str, Any],
) -> int:
    """Publish `ids` on a confirm-mode channel of our own; return how many RabbitMQ acked.

    Errors raise (the caller logs them); nacks and timeouts are logged here.
    """
    conn = producer.connection
    # Reconnect if an earlier failure dropped the connection (kombu's `connection`
    # property is None just after it reconnects by itself), and through `ensure`, which
    # also revives the pooled producer, if the broker restarted since the last publish;
    # both under the retry policy send_task follows on the per-message path.
    conn.ensure_connection(**retry_policy)
    open_channel: Callable[[Connection], Any] = conn.ensure(
        producer, _open_channel_without_confirm_waits, **retry_policy
    )
    channel = open_channel(conn)
    confirms = Confirms()
    channel.events["basic_ack"].add(confirms.ack)
    channel.events["basic_nack"].add(confirms.nack)
    closed = False
    try:
        channel.confirm_select(nowait=True)  # a refusal closes the channel: an error below
        # Same messages as on the pooled producer; only the channel differs. No retry: a
        # message half-sent on a connection that broke is unknown, so the chunk counts as
        # not sent and the scheduler has it.
        chunk_producer = Producer(channel, auto_declare=False)
        for chunk in chunks(ids):
            nacked = confirms.nacked
            for n, delivery_id in enumerate(chunk):
                messages.send(chunk_producer, delivery_id, retry=False, declare=n == 0, queue=queue)
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


class Confirms:
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
