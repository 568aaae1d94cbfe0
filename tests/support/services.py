"""Which real services this machine has, and what to do when one is missing.

On a laptop a missing PostgreSQL, Redis or RabbitMQ skips the tests that need it, with the
reason. With HOOKRELAY_REQUIRE_SERVICES=1 (set by .ci/run) a missing service fails them.
"""

from __future__ import annotations

import os
import socket

import pytest

PG_ADMIN_URL = os.environ.get("HOOKRELAY_TEST_PG", "postgresql+psycopg://127.0.0.1:5432/test")
REDIS_URL = os.environ.get("HOOKRELAY_TEST_REDIS", "redis://127.0.0.1:6379/0")
AMQP_URL = os.environ.get("HOOKRELAY_TEST_AMQP", "amqp://guest:guest@127.0.0.1:5672//")

PORTS = {"postgresql": 5432, "redis": 6379, "rabbitmq": 5672}


def libpq_url(url: str) -> str:
    """A SQLAlchemy PostgreSQL URL as psycopg.connect() takes it (no driver suffix)."""
    return url.replace("postgresql+psycopg://", "postgresql://")


def reachable(port: int, host: str = "127.0.0.1") -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def required() -> bool:
    return os.environ.get("HOOKRELAY_REQUIRE_SERVICES", "") not in ("", "0", "false")


def need(*services: str) -> None:
    """Skip (laptop) or fail (CI) unless every named service answers on its port."""
    missing = [name for name in services if not reachable(PORTS[name])]
    if not missing:
        return
    message = f"{', '.join(missing)} not reachable on 127.0.0.1"
    if required():
        pytest.fail(f"{message}, and HOOKRELAY_REQUIRE_SERVICES is set", pytrace=False)
    pytest.skip(f"{message}; start it to run these tests")


CHROMIUM = os.environ.get("HOOKRELAY_TEST_CHROMIUM", "/usr/bin/chromium")


def need_browser() -> str:
    """The system Chromium's path; skip (laptop) or fail (CI) when it is not installed."""
    if os.access(CHROMIUM, os.X_OK):
        return CHROMIUM
    message = f"{CHROMIUM} not installed (scripts/ensure-browser installs Debian's chromium)"
    if required():
        pytest.fail(f"{message}, and HOOKRELAY_REQUIRE_SERVICES is set", pytrace=False)
    pytest.skip(message)
