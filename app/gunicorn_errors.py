"""gunicorn's own error answers in the contract's JSON shape.

gunicorn refuses some requests before the app sees them: a request line over
`limit_request_line` (414), too many or too large header fields (431), a malformed request
line, method, version or header (400). It writes those answers itself, as HTML, through
`gunicorn.util.write_error`. gunicorn.conf.py swaps that function for `write_json_error` in
the web process, so every answer of the web is the contract's `{"error": {code, message}}`.
"""

from __future__ import annotations

import json
import socket

from gunicorn import util

MESSAGE_CHARS = 200  # the message may quote the refused request line: keep it short


def error_code(status: int) -> str:
    if status == 403:
        return "forbidden"
    return "internal_error" if status >= 500 and status != 501 else "invalid_request"


def write_json_error(sock: socket.socket, status_int: int, reason: str, mesg: str) -> None:
    """Write gunicorn's error answer as JSON; same arguments as `gunicorn.util.write_error`."""
    detail = f"{reason}: {mesg}" if mesg else reason
    body = json.dumps(
        {"error": {"code": error_code(status_int), "message": detail[:MESSAGE_CHARS]}}
    ).encode()
    head = (
        f"HTTP/1.1 {status_int} {reason}\r\n"
        "Connection: close\r\n"
        "Content-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    util.write_nonblock(sock, head.encode("latin1") + body)


def install() -> None:
    """Make gunicorn write its own errors as JSON in this process and the workers it forks."""
    util.write_error = write_json_error
