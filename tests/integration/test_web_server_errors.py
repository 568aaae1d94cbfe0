"""What gunicorn refuses before the app sees it still answers in the contract's JSON shape."""

from __future__ import annotations

import json
import socket

import pytest

from tests.support.stack import Stack

pytestmark = [pytest.mark.integration, pytest.mark.parametrize("stack", ["sqlite"], indirect=True)]


def raw_exchange(stack: Stack, request: bytes) -> tuple[int, dict[str, str], bytes]:
    """Send `request` as is on a new connection; return the status, headers and body."""
    with socket.create_connection(("127.0.0.1", stack.port), timeout=10) as sock:
        sock.sendall(request)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    status_line, *fields = head.decode("latin1").split("\r\n")
    headers = dict(field.split(": ", 1) for field in fields)
    return int(status_line.split()[1]), {k.lower(): v for k, v in headers.items()}, body


@pytest.mark.parametrize(
    ("request_bytes", "status"),
    [
        (b"GET /" + b"a" * 5000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", 414),
        (b"GET / HTTP/1.1\r\nHost: x\r\n" + b"X-A: 1\r\n" * 101 + b"\r\n", 431),
        (b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 9000 + b"\r\n\r\n", 431),
        (b"GET / HTTP/1.1\r\nHost: x\r\nBad Name: 1\r\n\r\n", 400),
        (b"NOT A REQUEST LINE\r\n\r\n", 400),
    ],
    ids=["long-line", "many-fields", "long-field", "bad-header-name", "bad-line"],
)
def test_requests_gunicorn_refuses_get_json_errors(
    stack: Stack, request_bytes: bytes, status: int
) -> None:
    got, headers, body = raw_exchange(stack, request_bytes)
    assert got == status, body
    assert headers["content-type"] == "application/json"
    error = json.loads(body)["error"]
    assert error["code"] == "invalid_request" and error["message"]
    assert int(headers["content-length"]) == len(body)
