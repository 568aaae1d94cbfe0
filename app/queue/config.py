"""Celery's configuration for every process that publishes or consumes, and the task's name.

Workers, the web process and the scheduler must agree on all of it: the broker, the two
lanes (first attempts and retries), late acks and the serializer.
"""

from __future__ import annotations

from typing import Any

from celery import Celery
from kombu import Exchange, Queue

from app.config import Settings
from app.queue.redis_transport import TRANSPORT

DELIVER_TASK = "deliveries.deliver"


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
