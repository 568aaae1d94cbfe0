"""Celery alone on this machine: the ceilings that hookrelay's end-to-end figures sit under.

A task that does nothing, with hookrelay's Celery settings and worker pool, on the same
broker: how fast hookrelay's publisher sends `count` of them from one process, and how fast
the worker processes the benchmark runs for hookrelay consume them. No database, no HTTP,
no web process: one Celery task per delivery can go no faster than this here.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

from kombu import Connection
from kombu.exceptions import ChannelError

from app.config import Settings
from app.queue import Publisher, make_celery
from bench.systems import System
from tests.support.stack import ROOT, delete_queue, procfile

Figures = dict[str, float]


def _queued(broker_url: str, queue: str) -> int:
    """Messages ready in `queue`; a queue that no longer exists (Redis drops an empty list)
    has none."""
    with Connection(broker_url, connect_timeout=3) as conn:
        try:
            declared = conn.default_channel.queue_declare(queue=queue, passive=True)
        except ChannelError:
            return 0
        return int(declared.message_count)


def noop(system: System, broker_url: str, count: int, timeout: float = 300) -> Figures:
    """Publish `count` no-op tasks, then drain them with `system`'s worker processes."""
    queue = f"hookrelay-bench-noop-{uuid.uuid4().hex[:8]}"
    with tempfile.TemporaryDirectory(prefix="hookrelay-noop-") as out:
        env = {
            **os.environ,
            "PATH": f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}",
            "BROKER_URL": broker_url,
            "HOOKRELAY_QUEUE": queue,
            "HOOKRELAY_NOOP_OUT": out,
        }
        settings = Settings.from_env(env)
        publisher = Publisher(make_celery(settings))
        start = time.perf_counter()
        published = publisher.publish(f"noop_{n}" for n in range(count))
        publish_s = published / (time.perf_counter() - start)
        try:
            _drain(
                system, env, lambda: _queued(broker_url, queue), timeout, Path(out, "worker.log")
            )
        finally:  # both lanes: the workers declared the retry lane too
            delete_queue(broker_url, queue)
            delete_queue(broker_url, settings.retry_queue_name)
        ran = [json.loads(p.read_text()) for p in Path(out).glob("*.json")]
    done = sum(int(r["count"]) for r in ran)
    busy = [r for r in ran if r["count"]]
    elapsed = max(r["last"] for r in busy) - min(r["first"] for r in busy) if busy else 0.0
    cpu = sum(r["cpu_last"] - r["cpu_first"] for r in busy)
    return {
        "noop_publish_s": publish_s,
        "noop_consume_s": done / elapsed if elapsed else 0.0,
        "noop_cpu_ms": cpu / done * 1000 if done else 0.0,
        "noop_missing": float(published - done),
    }


def _drain(
    system: System, env: dict[str, str], queued: Callable[[], int], timeout: float, log_path: Path
) -> None:
    """Run the worker processes until the queue is empty, then stop them normally."""
    with log_path.open("ab") as log:  # each child keeps its own copy
        procs = [
            subprocess.Popen(
                ["sh", "-c", _worker_command()],
                cwd=ROOT,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
            for _ in range(system.worker_processes)
        ]
    try:
        deadline = time.monotonic() + timeout
        while queued() and time.monotonic() < deadline:
            if any(proc.poll() is not None for proc in procs):
                tail = log_path.read_text(errors="replace")[-2000:]
                raise RuntimeError(f"a no-op worker exited:\n{tail}")
            time.sleep(0.2)
        time.sleep(2.0)  # the last prefetched tasks run after the queue looks empty
    finally:
        for proc in procs:  # a warm shutdown: each process writes its counts
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in procs:
            proc.wait(timeout=60)


def _worker_command() -> str:
    """The Procfile's `worker` line (pool, concurrency, flags), pointed at the no-op app."""
    line = procfile()["worker"]
    if "-A tasks.celery " not in line:
        raise RuntimeError(f"unexpected Procfile worker line: {line}")
    # exec: the process waited on is the worker itself, which writes its counts on the way out
    return "exec " + line.removeprefix("exec ").replace("-A tasks.celery ", "-A bench.noop ")
