"""The queue between store and deliver: one `deliveries.deliver` message per delivery id.

Publishing is a notification, not the record: the delivery row is committed first, and a
publish that fails is repaired by the scheduler, which re-enqueues what was never picked up.

The modules, in the order a message travels:

- `config`: the Celery settings every process shares, the task's name and the two lanes.
- `publisher`: `Publisher.publish(ids, queue=None)`, the one call the rest of hookrelay makes.
- `message`: the task message, built by hand (the same one `send_task` builds, cheaper).
- `confirms`: RabbitMQ publisher confirms collected once per chunk instead of once per message.
- `redis_transport`: kombu's Redis transport with one client per channel.

The last three exist for speed; docs/performance.md has the measurements.
"""

from app.queue.config import DELIVER_TASK, celery_config, make_celery
from app.queue.message import CHUNK
from app.queue.publisher import Publisher

__all__ = ["CHUNK", "DELIVER_TASK", "Publisher", "celery_config", "make_celery"]
