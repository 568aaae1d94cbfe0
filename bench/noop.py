"""A Celery worker whose `deliveries.deliver` does nothing: what Celery alone can consume.

The same Celery settings as hookrelay's worker (`app/queue/config.py`: late acks, prefetch
multiplier 4), started with the same pool and concurrency by `bench/ceilings.py`. Each
process counts the tasks it ran and, when it shuts down, writes the count and the wall and
CPU clocks of its first and last task to `$HOOKRELAY_NOOP_OUT/<pid>.json`: no per-task
round trip to anything, so the figure is Celery's and the broker's alone.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from pathlib import Path
from typing import Any

from celery import signals

from app.config import Settings
from app.queue import DELIVER_TASK, make_celery

app = make_celery(Settings.from_env(), name="hookrelay-noop")
_lock = threading.Lock()
# The process's CPU clock too, read at its first and its last task: the CPU the consuming
# took, without the start-up before it.
_ran: dict[str, float] = {"count": 0, "first": 0.0, "last": 0.0, "cpu_first": 0.0, "cpu_last": 0.0}


@app.task(name=DELIVER_TASK)
def deliver(_delivery_id: str) -> None:
    now, cpu = time.time(), time.process_time()
    with _lock:
        _ran["count"] += 1
        _ran["first"] = _ran["first"] or now
        _ran["cpu_first"] = _ran["cpu_first"] or cpu
        _ran["last"], _ran["cpu_last"] = now, cpu


@signals.setup_logging.connect
def _quiet(**_kwargs: Any) -> None:
    """Warnings only: hookrelay's worker does not log Celery's per-task lines either."""
    logging.basicConfig(level=logging.WARNING)


@signals.worker_shutdown.connect
def _report(**_kwargs: Any) -> None:
    Path(os.environ["HOOKRELAY_NOOP_OUT"], f"{os.getpid()}.json").write_text(json.dumps(_ran))
