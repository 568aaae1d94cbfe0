"""Publishing a chunk to RabbitMQ with one confirm wait: what arrives, and what counts as sent."""

from __future__ import annotations

import contextlib
import json
import logging
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from kombu import Connection, Queue

from app.config import Settings
from app.queue import DELIVER_TASK, Publisher, confirms, make_celery
from tests.support.services import AMQP_URL, need

pytestmark = pytest.mark.integration


class Proxy:
    """A TCP relay to RabbitMQ that can silence the broker's side or cut every connection."""

    def __init__(self, port: int = 5672) -> None:
        self._upstream = ("127.0.0.1", port)
        self._server = socket.create_server(("127.0.0.1", 0))
        self.port = self._server.getsockname()[1]
        self.silent = threading.Event()
        self._sockets: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._server.accept()
            except OSError:
                return
            upstream = socket.create_connection(self._upstream)
            self._sockets += [client, upstream]
            threading.Thread(target=self._pipe, args=(client, upstream, False), daemon=True).start()
            threading.Thread(target=self._pipe, args=(upstream, client, True), daemon=True).start()

    def _pipe(self, source: socket.socket, target: socket.socket, from_broker: bool) -> None:
        try:
            while data := source.recv(65536):
                if not (from_broker and self.silent.is_set()):
                    target.sendall(data)
        except OSError:
            pass
        for sock in (source, target):
            sock.close()

    def cut(self) -> None:
        """Close every relayed connection, as a broker crash or a network failure would."""
        for sock in self._sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        self._sockets.clear()

    def close(self) -> None:
        self._server.close()
        self.cut()


@pytest.fixture
def proxy() -> Iterator[Proxy]:
    need("rabbitmq")
    relay = Proxy()
    yield relay
    relay.close()


@pytest.fixture
def queue_name() -> Iterator[str]:
    name = f"test-confirms-{uuid.uuid4().hex[:12]}"
    yield name
    with Connection(AMQP_URL) as conn:
        conn.default_channel.queue_delete(name)


def _publisher(broker_url: str, queue_name: str, **conf: Any) -> Publisher:
    settings = Settings.from_env({"BROKER_URL": broker_url, "HOOKRELAY_QUEUE": queue_name})
    celery = make_celery(settings)
    celery.conf.update(conf)
    return Publisher(celery)


def _drain(queue_name: str) -> list[Any]:
    with Connection(AMQP_URL) as conn:
        channel = conn.default_channel
        messages = []
        while (message := channel.basic_get(queue_name, no_ack=True)) is not None:
            messages.append(message)
        return messages


def _properties(message: Any) -> str:
    """The message's properties but the task id and the headers (compared on their own)."""
    properties = {
        k: v
        for k, v in message.properties.items()
        if k not in ("correlation_id", "application_headers")
    }
    return json.dumps(properties, sort_keys=True, default=str)


def _ids(count: int) -> list[str]:
    return [uuid.uuid4().hex for _ in range(count)]


def test_a_chunk_arrives_as_the_messages_send_task_makes(queue_name: str) -> None:
    need("rabbitmq")
    publisher = _publisher(AMQP_URL, queue_name)
    single, chunk = _ids(1), _ids(250)  # 250: more than one chunk

    assert publisher.publish(single) == 1  # the per-message confirm path, for comparison
    assert publisher.publish(chunk) == 250

    messages = _drain(queue_name)
    assert [json.loads(m.body)[0] for m in messages] == [[i] for i in single + chunk]
    shape = {
        (
            m.delivery_info["exchange"],
            m.delivery_info["routing_key"],
            m.headers["task"],
            tuple(sorted(m.headers)),
            _properties(m),
            json.dumps(json.loads(m.body)[1:]),
        )
        for m in messages
    }
    assert shape == {
        (
            "",
            queue_name,
            DELIVER_TASK,
            tuple(sorted(messages[0].headers)),
            _properties(messages[0]),
            json.dumps([{}, {"callbacks": None, "errbacks": None, "chain": None, "chord": None}]),
        )
    }
    assert all(m.headers["id"] == m.properties["correlation_id"] for m in messages)


def test_messages_rabbitmq_nacks_are_not_counted(
    queue_name: str, caplog: pytest.LogCaptureFixture
) -> None:
    need("rabbitmq")
    # A full queue that rejects publishes makes RabbitMQ nack what does not fit.
    limited = Queue(
        queue_name,
        routing_key=queue_name,
        max_length=3,
        queue_arguments={"x-overflow": "reject-publish"},
    )
    publisher = _publisher(AMQP_URL, queue_name, task_queues=[limited])

    with caplog.at_level(logging.WARNING, logger="app.queue"):
        assert publisher.publish(_ids(10)) == 3

    assert len(_drain(queue_name)) == 3
    assert "did not confirm" in caplog.text
    assert publisher.publish(_ids(2)) == 2  # the channel and connection are still usable


@pytest.mark.parametrize("fault", ["silent broker", "lost connection"])
def test_a_fault_while_waiting_for_confirms_counts_as_not_sent(
    fault: str,
    proxy: Proxy,
    queue_name: str,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    publisher = _publisher(
        f"amqp://guest:guest@127.0.0.1:{proxy.port}//", queue_name, broker_connection_timeout=1
    )
    assert publisher.publish(_ids(2)) == 2  # connected, queue declared
    wait = confirms.Confirms.wait

    def fail_then_wait(confirms: Any, conn: Connection, timeout: float) -> None:
        # Between the last publish and the first read of the confirms.
        proxy.silent.set() if fault == "silent broker" else proxy.cut()
        wait(confirms, conn, timeout)

    monkeypatch.setattr(confirms.Confirms, "wait", fail_then_wait)
    started = time.monotonic()
    with caplog.at_level(logging.WARNING, logger="app.queue"):
        sent = publisher.publish(_ids(50))
    elapsed = time.monotonic() - started

    # Acks read while publishing were counted; the rest were not, and nothing hung.
    assert sent < 50
    assert elapsed < 3
    assert caplog.records
    monkeypatch.setattr(confirms.Confirms, "wait", wait)
    proxy.silent.clear()
    assert publisher.publish(_ids(2)) == 2  # the next publish reconnects
