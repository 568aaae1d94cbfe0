"""Stopping processes as an operator or a supervisor does: clean exits, nothing stale left."""

from __future__ import annotations

import signal
import time
from collections.abc import Callable

import pytest

from tasks.health import heartbeat_dir
from tests.support.stack import Stack

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_the_scheduler_and_a_worker_stop_cleanly(
    fresh_stack: Callable[..., Stack], sig: signal.Signals
) -> None:
    stack = fresh_stack("sqlite").start(workers=1)
    heartbeat = heartbeat_dir(stack.settings) / _worker_node(stack)
    deadline = time.monotonic() + 15
    while not heartbeat.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert heartbeat.exists()
    time.sleep(1)  # the scheduler is in its loop by now
    scheduler, worker = stack.procs["scheduler"], stack.procs["worker"]

    stack.kill("scheduler", sig)
    stack.kill("worker", sig)

    assert scheduler.returncode == 0, stack.log("scheduler")[-2000:]
    assert "Traceback" not in stack.log("scheduler")
    # Celery ends a warm shutdown asked for by SIGINT with status 1, by SIGTERM with 0.
    assert worker.returncode == (0 if sig == signal.SIGTERM else 1), stack.log("worker")[-2000:]
    assert not heartbeat.exists()  # a worker that stopped is not reported alive


def _worker_node(stack: Stack) -> str:
    names = sorted(p.name for p in heartbeat_dir(stack.settings).glob("worker-*"))
    deadline = time.monotonic() + 15
    while not names and time.monotonic() < deadline:
        time.sleep(0.1)
        names = sorted(p.name for p in heartbeat_dir(stack.settings).glob("worker-*"))
    assert names, "no heartbeat"
    return names[0]
