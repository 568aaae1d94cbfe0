"""Each long-running process freezes its start-up objects, so that Python's full collections
(95-250 ms each with the GIL held, measured in a worker on the 2-core machine) walk only what
was allocated since. Run in a child process: a freeze is process-wide."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

WEB = """
import gc, json, runpy, types
hooks = runpy.run_path("gunicorn.conf.py")
from app import create_app
app = create_app()
before = gc.get_freeze_count()
hooks["post_worker_init"](types.SimpleNamespace(wsgi=app))
runtime = app.extensions["hookrelay"]
print(json.dumps([before, gc.get_freeze_count(), "publisher" in vars(runtime)]))
"""

WORKER = """
import gc, json
from tasks.delivery import worker_runtime
before = gc.get_freeze_count()
worker_runtime()
print(json.dumps([before, gc.get_freeze_count()]))
"""


def _run(code: str, tmp_path: Path) -> list[object]:
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{tmp_path / 'heap.db'}"}
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr[-2000:]
    result: list[object] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def test_a_web_process_freezes_its_start_up_objects_with_the_ingest_path_built(
    tmp_path: Path,
) -> None:
    before, after, publisher_built = _run(WEB, tmp_path)
    assert before == 0
    assert isinstance(after, int) and after > 10_000  # the app, its modules and pools
    assert publisher_built is True  # built before the freeze, not by the first request


def test_a_worker_freezes_its_runtime_once_built(tmp_path: Path) -> None:
    before, after = _run(WORKER, tmp_path)
    assert before == 0
    assert isinstance(after, int) and after > 10_000


OTHER_APP = """
import gc, json, runpy, types
from flask import Flask
hooks = runpy.run_path("gunicorn.conf.py")
hooks["post_worker_init"](types.SimpleNamespace(wsgi=Flask("other")))
print(json.dumps([gc.get_freeze_count()]))
"""


def test_another_app_started_with_this_config_is_left_as_it_is(tmp_path: Path) -> None:
    """gunicorn reads gunicorn.conf.py for any app started here: the benchmark's baseline
    must start (it crashed on the hook) and must not be tuned by it."""
    assert _run(OTHER_APP, tmp_path) == [0]
