"""The publisher builds exactly the message Celery's `send_task` would build."""

from __future__ import annotations

import base64
import json
import uuid
from typing import Any

import pytest
import redis
from celery import Celery, signals
from kombu import Connection

from app.config import Settings
from app.queue import DELIVER_TASK, Publisher, make_celery
from app.queue.message import TaskMessages
from tests.support.services import REDIS_URL, need
from tests.support.stack import delete_queue

# Fresh per message; everything else must match send_task's message field for field.
PER_MESSAGE = {"id", "root_id"}
# send_task also copies the reprs into the message properties, where nothing reads them
# (a worker takes them from the headers).
UNREAD_PROPERTIES = {"correlation_id", "argsrepr", "kwargsrepr"}


@pytest.fixture
def celery() -> Celery:
    app = Celery("hookrelay-test", broker="memory://", set_as_current=False)
    app.conf.update(task_default_queue=f"deliveries-{uuid.uuid4().hex}", task_serializer="json")
    return app


def published(action: Any) -> list[dict[str, Any]]:
    """What `before_task_publish` saw while `action` ran: one dict per message."""
    seen: list[dict[str, Any]] = []

    def record(**kwargs: Any) -> None:
        seen.append(kwargs)

    signals.before_task_publish.connect(record, weak=False)
    try:
        action()
    finally:
        signals.before_task_publish.disconnect(record)
    return seen


def comparable(message: dict[str, Any]) -> dict[str, Any]:
    headers = {k: v for k, v in message["headers"].items() if k not in PER_MESSAGE}
    properties = {k: v for k, v in message["properties"].items() if k not in UNREAD_PROPERTIES}
    return {
        "headers": headers,
        "properties": properties,
        "body": message["body"],
        "exchange": message["exchange"],
        "routing_key": message["routing_key"],
        "retry_policy": message["retry_policy"],
    }


def test_a_published_message_matches_send_task(celery: Celery) -> None:
    [expected] = published(
        lambda: celery.send_task(
            DELIVER_TASK, args=["del_1"], argsrepr="['del_1']", kwargsrepr="{}"
        )
    )
    [actual] = published(lambda: Publisher(celery).publish(["del_1"]))

    assert comparable(actual) == comparable(expected)
    assert actual["headers"]["id"] != expected["headers"]["id"]
    assert actual["headers"]["root_id"] == actual["headers"]["id"]
    assert actual["properties"]["correlation_id"] == actual["headers"]["id"]


def test_a_batch_declares_the_queue_once_and_sends_every_message(celery: Celery) -> None:
    messages = published(lambda: Publisher(celery).publish([f"del_{n}" for n in range(5)]))

    assert [m["body"][0] for m in messages] == [[f"del_{n}"] for n in range(5)]
    assert len({m["headers"]["id"] for m in messages}) == 5
    assert [bool(m["declare"]) for m in messages] == [True, False, False, False, False]
    queue_name = celery.conf.task_default_queue
    assert [q.name for q in messages[0]["declare"]] == [queue_name]
    with celery.connection_for_write() as conn:
        queue = conn.SimpleQueue(queue_name)
        bodies = [queue.get(timeout=1).decode()[0] for _ in range(5)]
        queue.close()
    assert bodies == [[f"del_{n}"] for n in range(5)]


def test_single_sends_on_redis_share_one_client_and_arrive(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    need("redis")
    queue_name = f"hookrelay-test-{uuid.uuid4().hex[:8]}"
    settings = Settings.from_env(
        {"DATABASE_URL": "sqlite://", "BROKER_URL": REDIS_URL, "HOOKRELAY_QUEUE": queue_name}
    )
    celery = make_celery(settings)
    publisher = Publisher(celery)
    publisher.publish(["del_0"])  # the pooled producer and its channel exist from here on
    clients: list[object] = []
    real_init = redis.Redis.__init__

    def count(client: redis.Redis, *args: Any, **kwargs: Any) -> None:
        clients.append(client)
        real_init(client, *args, **kwargs)

    monkeypatch.setattr(redis.Redis, "__init__", count)
    try:
        sent = sum(publisher.publish([f"del_{n}"]) for n in range(1, 6))
        built = len(clients)
        with Connection(REDIS_URL) as conn:
            queue = conn.SimpleQueue(queue_name)
            messages = [queue.get(timeout=1) for _ in range(6)]
            for message in messages:
                message.ack()  # or closing the queue puts them back, through a client of its own
            bodies = [message.decode()[0] for message in messages]
            queue.close()
    finally:
        celery.close()
        delete_queue(REDIS_URL, queue_name)

    assert sent == 5 and built == 0
    assert sorted(bodies) == [[f"del_{n}"] for n in range(6)]


def test_the_queue_is_declared_once_per_connection(celery: Celery) -> None:
    publisher = Publisher(celery)
    messages = published(lambda: [publisher.publish([f"del_{n}"]) for n in range(3)])

    assert [bool(m["declare"]) for m in messages] == [True, False, False]
    with celery.connection_for_write() as conn:
        queue = conn.SimpleQueue(celery.conf.task_default_queue)
        bodies = [queue.get(timeout=1).decode()[0] for _ in range(3)]
        queue.close()
    assert bodies == [[f"del_{n}"] for n in range(3)]


def test_a_single_message_on_redis_is_what_the_producer_would_put_there() -> None:
    """A single send's message goes straight on a Redis channel (`TaskMessages.put`); the
    list entry must be the one kombu's producer writes, but for its per-message ids."""
    need("redis")
    queue_name = f"hookrelay-test-{uuid.uuid4().hex[:8]}"
    settings = Settings.from_env(
        {"DATABASE_URL": "sqlite://", "BROKER_URL": REDIS_URL, "HOOKRELAY_QUEUE": queue_name}
    )
    celery = make_celery(settings)
    client = redis.Redis.from_url(REDIS_URL)
    try:
        with celery.producer_or_acquire() as producer:
            TaskMessages(celery).send(producer, "del_1")
        [by_producer] = client.lrange(queue_name, 0, -1)
        client.delete(queue_name)
        assert Publisher(celery).publish(["del_1"]) == 1
        [direct] = client.lrange(queue_name, 0, -1)
    finally:
        celery.close()
        delete_queue(REDIS_URL, queue_name)
        client.close()

    def entry(raw: bytes) -> dict[str, Any]:
        message = json.loads(raw)
        body = json.loads(base64.b64decode(message.pop("body")))
        for key in PER_MESSAGE:
            message["headers"].pop(key)
        for key in ("delivery_tag", "correlation_id"):
            message["properties"].pop(key)
        return {**message, "body": body}

    assert entry(direct) == entry(by_producer)
    assert entry(direct)["body"][0] == ["del_1"]


def test_delete_queue_drops_a_redis_queue_another_process_declared() -> None:
    """A test stack's web and worker declare and fill its queue in their own processes;
    stopping the stack must still drop the list and its binding, or every run leaves them."""
    need("redis")
    queue_name = f"hookrelay-test-{uuid.uuid4().hex[:8]}"
    other = redis.Redis.from_url(REDIS_URL)
    binding = f"_kombu.binding.{queue_name}"
    other.lpush(queue_name, "a message left in the queue")
    other.sadd(binding, f"{queue_name}\x06\x16\x06\x16{queue_name}")
    try:
        delete_queue(REDIS_URL, queue_name)

        assert other.exists(queue_name, binding) == 0
    finally:
        other.delete(queue_name, binding)
        other.close()
