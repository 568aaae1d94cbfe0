"""Worker entry point: `celery -A tasks.celery worker`."""

from __future__ import annotations

from app.config import Settings
from app.queue import make_celery
from tasks.delivery import register_tasks

app = make_celery(Settings.from_env())
register_tasks(app)
