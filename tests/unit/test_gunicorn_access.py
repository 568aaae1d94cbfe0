"""The web's access log line: the same text as gunicorn's own logger, from six fields."""

from __future__ import annotations

from datetime import timedelta
from types import SimpleNamespace

import pytest
from gunicorn.config import Config
from gunicorn.glogging import Logger, SafeAtoms

from app.gunicorn_access import ACCESS_LOG_FORMAT, AccessLogger

ENVIRON = {
    "REMOTE_ADDR": "10.0.0.7",
    "REQUEST_METHOD": "GET",
    "PATH_INFO": '/portal/ws_1/"x"',
    "QUERY_STRING": "code=one-time-secret",
    "RAW_URI": '/portal/ws_1/"x"?code=one-time-secret',
    "SERVER_PROTOCOL": "HTTP/1.1",
    "HTTP_USER_AGENT": "curl/8",
}


def _line(
    logger_class: type[Logger], status: str, sent: int | None
) -> tuple[str, dict[str, object]]:
    config = Config()
    config.set("access_log_format", ACCESS_LOG_FORMAT)
    logger = logger_class(config)
    resp = SimpleNamespace(status=status, sent=sent, headers=[("Content-Type", "text/html")])
    req = SimpleNamespace(headers=[("USER-AGENT", "curl/8"), ("HOST", "example.test")])
    atoms = logger.atoms(resp, req, ENVIRON, timedelta(seconds=1, microseconds=234_567))
    return ACCESS_LOG_FORMAT % SafeAtoms(atoms), atoms


@pytest.mark.parametrize(("status", "sent"), [("202 ACCEPTED", 45), ("500 ERROR", None)])
def test_the_line_is_gunicorns_own(status: str, sent: int | None) -> None:
    ours, _ = _line(AccessLogger, status, sent)
    theirs, _ = _line(Logger, status, sent)

    assert ours == theirs
    assert ours.startswith('10.0.0.7 "GET /portal/ws_1/\\"x\\"" ') and ours.endswith(" 1234ms")
    assert "one-time-secret" not in ours  # the path without its query string


def test_only_the_printed_fields_are_built() -> None:
    """gunicorn builds one atom per header and environ variable; the line prints six."""
    _, atoms = _line(AccessLogger, "202 ACCEPTED", 45)

    assert set(atoms) == {"h", "m", "U", "s", "B", "M"}
