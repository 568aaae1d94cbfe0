"""A real HTTP receiver on 127.0.0.1 whose behaviour each test picks through the URL.

`/<name>` answers 200. Query parameters change that: `fail=N` answers 500 to the first N
requests, `status=C` always answers C, `retry_after=S` adds a Retry-After header,
`sleep=S` waits S seconds before answering (hang past the timeout), `limited=N` answers
429 to the first N requests (with `retry_after=S`, a Retry-After header), `redirect=URL`
answers 302 to URL, `big=N` answers a body of N bytes, `cookie=K=V` sets a cookie,
`reset=1` resets the connection without answering, `huge_header=1` answers with a header line
longer than any client accepts, `stall=S` sends the headers and one byte of the body, then
waits S seconds. `answer(name, status)` overrides the status of every later request to
`/<name>` (an endpoint that fails, then recovers), and `most_in_flight(name)` is the most
requests to `/<name>` it was answering at once.
"""

from __future__ import annotations

import socket
import struct
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from standardwebhooks import Webhook


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    at: float
    done: float = 0.0  # when the answer was written (or the connection given up)

    def verify(self, secret: str) -> object:
        """Verify the Standard Webhooks signature; raises on a bad one."""
        return Webhook(secret).verify(self.body, self.headers)


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: object, client_address: object) -> None:
        pass  # senders that time out or reset mid-request are what some tests are about


@dataclass
class Receiver:
    host: str = "127.0.0.1"
    requests: list[Received] = field(default_factory=list)
    _counts: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    _in_flight: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    _most: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    _status: dict[str, int] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _server: ThreadingHTTPServer | None = None

    @property
    def port(self) -> int:
        assert self._server is not None
        return self._server.server_address[1]

    def url(self, name: str, **params: object) -> str:
        query = "&".join(f"{k}={v}" for k, v in params.items())
        return f"http://{self.host}:{self.port}/{name}" + (f"?{query}" if query else "")

    def received(self, name: str) -> list[Received]:
        with self._lock:
            return [r for r in self.requests if urlsplit(r.path).path == f"/{name}"]

    def wait_for(self, name: str, count: int, timeout: float = 20.0) -> list[Received]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            got = self.received(name)
            if len(got) >= count:
                return got
            time.sleep(0.05)
        raise AssertionError(f"{name}: expected {count} requests, got {len(self.received(name))}")

    def answer(self, name: str, status: int | None) -> None:
        """Answer `status` to every later request to `/<name>`; None goes back to the URL's."""
        with self._lock:
            if status is None:
                self._status.pop(f"/{name}", None)
            else:
                self._status[f"/{name}"] = status

    def most_in_flight(self, name: str) -> int:
        with self._lock:
            return self._most[f"/{name}"]

    def _handle(self, handler: BaseHTTPRequestHandler) -> None:
        body = handler.rfile.read(int(handler.headers.get("Content-Length") or 0))
        parts = urlsplit(handler.path)
        params = {k: v[0] for k, v in parse_qs(parts.query).items()}
        record = Received(handler.path, dict(handler.headers), body, time.time())
        with self._lock:
            self.requests.append(record)
            self._counts[parts.path] += 1
            count = self._counts[parts.path]
            self._in_flight[parts.path] += 1
            self._most[parts.path] = max(self._most[parts.path], self._in_flight[parts.path])
            if parts.path in self._status:
                params["status"] = str(self._status[parts.path])
        try:
            self._answer(handler, params, count)
        finally:
            record.done = time.time()
            with self._lock:
                self._in_flight[parts.path] -= 1

    def _answer(self, handler: BaseHTTPRequestHandler, params: dict[str, str], count: int) -> None:
        if "sleep" in params:
            time.sleep(float(params["sleep"]))
        if "stall" in params:
            handler.send_response(200)
            handler.send_header("Content-Length", "100")
            handler.end_headers()
            handler.wfile.write(b"x")
            handler.wfile.flush()
            time.sleep(float(params["stall"]))
            return
        if "reset" in params:
            # SO_LINGER with a zero timeout makes close() send RST instead of FIN.
            handler.connection.setsockopt(
                socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
            )
            handler.close_connection = True
            handler.connection.close()
            return
        status = 200
        if count <= int(params.get("fail", 0)):
            status = 500
        if count <= int(params.get("limited", 0)):
            status = 429
        status = int(params.get("status", status))
        headers = {}
        if "retry_after" in params and status != 200:
            headers["Retry-After"] = params["retry_after"]
        if "redirect" in params:
            status, headers["Location"] = 302, params["redirect"]
        if "cookie" in params:
            headers["Set-Cookie"] = f"{params['cookie']}; Path=/"
        if "huge_header" in params:
            headers["X-Huge"] = "x" * 100_000  # http.client reads header lines of 64 KiB at most
        payload = b"x" * int(params.get("big", 0)) or b"ok"
        try:
            handler.send_response(status)
            for key, value in headers.items():
                handler.send_header(key, value)
            handler.send_header("Content-Length", str(len(payload)))
            handler.end_headers()
            handler.wfile.write(payload)
        except OSError:
            pass  # the sender gave up (timeout); nothing to answer

    def start(self) -> Receiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                receiver._handle(self)

            def log_message(self, *_args: object) -> None:
                pass

        self._server = _QuietServer((self.host, 0), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
