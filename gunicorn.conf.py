"""gunicorn settings of the web process: JSON logs and errors, request limits, metrics."""

from __future__ import annotations

import os
import shutil
import tempfile
from typing import Any

from app import gunicorn_errors, heap
from app.gunicorn_access import ACCESS_LOG_FORMAT, AccessLogger
from app.logs import gunicorn_config

# Every gunicorn process writes its samples under one directory and /metrics adds them up.
# It must be set before the app (and prometheus_client) is imported, and start empty.
if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="hookrelay-web-metrics-")
else:
    shutil.rmtree(os.environ["PROMETHEUS_MULTIPROC_DIR"], ignore_errors=True)
    os.makedirs(os.environ["PROMETHEUS_MULTIPROC_DIR"], exist_ok=True)

logconfig_dict = gunicorn_config()
# What gunicorn refuses before the app sees it (414, 431, 400) answers in the API's JSON shape.
gunicorn_errors.install()
# gunicorn's defaults, stated here because the README documents them: the longest request
# line (method, path and query; the longest API path is far shorter), the most header fields
# and the longest header field.
limit_request_line = 4094
limit_request_fields = 100
limit_request_field_size = 8190
# The path without the query string: a portal link's one-time code never reaches the log.
access_log_format = ACCESS_LOG_FORMAT
logger_class = AccessLogger


def child_exit(_server: Any, worker: Any) -> None:
    """Drop a dead process's live gauges, as prometheus_client's multiprocess mode asks."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def post_worker_init(worker: Any) -> None:
    """The app is loaded: build what every ingest request uses, then keep the process's
    start-up objects out of every full collection (`app.heap`). Only for hookrelay's app:
    gunicorn reads this file for any app started in this directory (the benchmark's
    naive baseline too), and the baseline stays as its authors would run it."""
    runtime = getattr(worker.wsgi, "extensions", {}).get("hookrelay")
    if runtime is not None:
        runtime.prepare()
        heap.freeze()
