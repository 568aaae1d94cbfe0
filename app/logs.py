"""Structured logs: one JSON object per line, for every process type.

Lines about a delivery carry `delivery_id` and `workspace_id` (passed with `extra=`), so an
operator can follow one delivery across web, worker and scheduler. Payloads, secrets and
credentials are never logged: callers pass ids and counts only.
"""

from __future__ import annotations

import logging
import sys
from typing import Any

from pythonjsonlogger.json import JsonFormatter

FIELDS = "%(levelname)s %(name)s %(process)d %(message)s"
RENAMED = {"levelname": "level", "name": "logger", "process": "pid"}


def json_formatter() -> logging.Formatter:
    """The formatter every hookrelay process uses."""
    return JsonFormatter(FIELDS, rename_fields=RENAMED, timestamp="time")


def configure(level: int | str = logging.INFO) -> None:
    """Send the root logger's records to stderr as JSON, replacing any other handler."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(json_formatter())
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(level)


def gunicorn_config() -> dict[str, Any]:
    """gunicorn's `logconfig_dict`: its error and access logs as JSON on stderr and stdout."""
    formatter = {"()": "app.logs.json_formatter"}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": formatter},
        "handlers": {
            "stderr": {"class": "logging.StreamHandler", "formatter": "json"},
            "stdout": {
                "class": "logging.StreamHandler",
                "formatter": "json",
                "stream": "ext://sys.stdout",
            },
        },
        "root": {"level": "INFO", "handlers": ["stderr"]},
        "loggers": {
            "gunicorn.error": {"level": "INFO", "handlers": ["stderr"], "propagate": False},
            "gunicorn.access": {"level": "INFO", "handlers": ["stdout"], "propagate": False},
        },
    }
