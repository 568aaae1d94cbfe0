"""The frameworks alone, per single send: the floor under the end-to-end single-send row.

A single send end to end is, whatever the service does besides, one gunicorn + Flask request,
the load generator's request, one Celery task consumed, one `requests` POST and the
receiver's answer to it, all on this machine's cores. Each is measured here with nothing
behind it (no key, row, lease or signature), in CPU per request from the processes' own
counters, so the table can say how much of a target's CPU budget they leave.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import requests

from bench.load import Client, closed_loop
from bench.phases import group_cpu_seconds, process_cpu_seconds
from tests.support.services import reachable
from tests.support.stack import ROOT, free_port, procfile

Figures = dict[str, float]
LEAST = 3_000


async def single_send(
    receiver_pid: int, receiver_url: str, count: int, concurrency: int
) -> Figures:
    """CPU per request of the bare web app and its load generator, and of a POST and the
    receiver's answer to it, in ms; over at least `LEAST` requests each, so that the
    receiver's share (~0.03 ms) spans enough of the kernel's 10 ms CPU ticks."""
    count = max(count, LEAST)
    return await _web(count, concurrency) | _post(receiver_pid, receiver_url, count)


async def _web(count: int, concurrency: int) -> Figures:
    port = free_port()
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}",
        "PYTHONPATH": str(ROOT),
        "PORT": str(port),
    }
    # Started from bench/: gunicorn reads ./gunicorn.conf.py, and hookrelay's would add its
    # logging and metrics set-up to the bare app.
    proc = subprocess.Popen(
        ["sh", "-c", _web_command()],
        cwd=ROOT / "bench",
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 30
        while not reachable(port):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the bare web app did not start")
            time.sleep(0.05)
        client = Client(f"http://127.0.0.1:{port}", "bare", "ep_bare")
        await closed_loop(client.single, concurrency * 2, concurrency, timeout=60)  # warm up
        web, load = group_cpu_seconds(proc.pid), time.process_time()
        done = await closed_loop(client.single, count, concurrency, timeout=300)
        web, load = group_cpu_seconds(proc.pid) - web, time.process_time() - load
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)
    return {
        "floor_web_ms": web / done.requests * 1000,
        "floor_load_ms": load / done.requests * 1000,
    }


def _post(receiver_pid: int, url: str, count: int) -> Figures:
    """`count` POSTs of a small JSON body on one kept-alive `requests` session."""
    with requests.Session() as session:
        for n in range(20):  # warm up: the connection and the lazy imports
            session.post(url, json={"n": n}, timeout=10).raise_for_status()
        client, receiver = time.thread_time(), process_cpu_seconds(receiver_pid)
        for n in range(count):
            session.post(url, json={"n": n}, timeout=10).raise_for_status()
        client, receiver = time.thread_time() - client, process_cpu_seconds(receiver_pid) - receiver
    return {
        "floor_post_ms": client / count * 1000,
        "floor_receiver_ms": receiver / count * 1000,
    }


def _web_command() -> str:
    """The Procfile's `web` line (gunicorn's worker model), serving the bare app, no logs."""
    line = procfile()["web"]
    hookrelay = '-c gunicorn.conf.py "app:create_app()"'
    if hookrelay not in line:
        raise RuntimeError(f"unexpected Procfile web line: {line}")
    line = line.replace(hookrelay, "bench.bare:app").replace(" --access-logfile -", "")
    return line.replace("0.0.0.0", "127.0.0.1")
