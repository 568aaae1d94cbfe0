"""A fast webhook receiver on 127.0.0.1: answers 200 and counts unique deliveries.

A bare asyncio protocol (no framework) in its own process, so the receiver is never what
limits a run. Deliveries are told apart by `webhook-id` (hookrelay and the naive baseline both
send it); the first arrival time of each is kept for the latency figures.

Besides the healthy path, three misbehaving ones for the isolation phase: `/hang` accepts the
request and never answers, `/fail` answers 500 after 200 ms, `/busy` answers 429 with
`Retry-After: 5`. Each counts its requests, their arrival times and the most it ever had open
at once (a request is open from its arrival until it is answered or its connection closes).

Control routes: `GET /stats` -> {"unique", "total", "signed"}, `GET /arrivals` -> {id: first
arrival, epoch seconds}, `GET /misbehaving` -> {path: {"requests", "open", "most_open",
"arrivals"}}, `POST /reset` forgets everything. Run as `python -m bench.receiver PORT`.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time

OK = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"
FAIL = b"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\n\r\n"
BUSY = b"HTTP/1.1 429 Too Many Requests\r\nRetry-After: 5\r\nContent-Length: 0\r\n\r\n"
# path -> (answer, delay in seconds); None: never answer
MISBEHAVING: dict[str, tuple[bytes, float] | None] = {
    "/hang": None,
    "/fail": (FAIL, 0.2),
    "/busy": (BUSY, 0.0),
}


class Misbehaving:
    """What one misbehaving path saw."""

    def __init__(self) -> None:
        self.arrivals: list[float] = []
        self.open = 0
        self.most_open = 0

    def arrived(self) -> None:
        self.arrivals.append(time.time())
        self.open += 1
        self.most_open = max(self.most_open, self.open)

    def as_json(self) -> dict[str, object]:
        return {
            "requests": len(self.arrivals),
            "open": self.open,
            "most_open": self.most_open,
            "arrivals": self.arrivals,
        }


class Counts:
    def __init__(self) -> None:
        self.first: dict[str, float] = {}
        self.total = 0
        self.signed = 0  # arrivals with a `webhook-signature`: tells the systems apart
        self.misbehaving = {path: Misbehaving() for path in MISBEHAVING}

    def control(self, method: str, path: str) -> bytes:
        if path == "/stats":
            body = json.dumps(
                {"unique": len(self.first), "total": self.total, "signed": self.signed}
            ).encode()
        elif path == "/arrivals":
            body = json.dumps(self.first).encode()
        elif path == "/misbehaving":
            body = json.dumps({p: m.as_json() for p, m in self.misbehaving.items()}).encode()
        elif path == "/reset" and method == "POST":
            self.first, self.total, self.signed, body = {}, 0, 0, b"{}"
            self.misbehaving = {path: Misbehaving() for path in MISBEHAVING}
        else:
            return b""
        head = f"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {len(body)}"
        return head.encode() + b"\r\n\r\n" + body


class Protocol(asyncio.Protocol):
    def __init__(self, counts: Counts) -> None:
        self.counts = counts
        self.buffer = b""
        self.transport: asyncio.Transport | None = None
        self.pending: Misbehaving | None = None  # a misbehaving request not yet answered

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while (end := self.buffer.find(b"\r\n\r\n")) >= 0:
            lines = self.buffer[:end].decode("latin-1").split("\r\n")
            headers = {}
            for line in lines[1:]:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
            size = end + 4 + int(headers.get("content-length") or 0)
            if len(self.buffer) < size:
                return
            self.buffer = self.buffer[size:]
            assert self.transport is not None
            path = lines[0].split(" ")[1] if " " in lines[0] else ""
            if path in MISBEHAVING and "webhook-id" in headers:
                self.misbehave(path)
                return
            self.transport.write(self.answer(lines[0], headers))
            if headers.get("connection", "").lower() == "close":
                self.transport.close()
                return

    def misbehave(self, path: str) -> None:
        """Answer late, badly or never; one request per connection at a time (no pipelining)."""
        seen = self.pending = self.counts.misbehaving[path]
        seen.arrived()
        behaviour = MISBEHAVING[path]
        if behaviour is not None:
            answer, delay = behaviour
            asyncio.get_running_loop().call_later(delay, self.reply, seen, answer)

    def reply(self, seen: Misbehaving, answer: bytes) -> None:
        if self.pending is seen and self.transport is not None:
            self.pending = None
            seen.open -= 1
            self.transport.write(answer)

    def connection_lost(self, exc: Exception | None) -> None:
        if self.pending is not None:
            self.pending.open -= 1
            self.pending = None

    def answer(self, request_line: str, headers: dict[str, str]) -> bytes:
        method, path = request_line.split(" ")[:2]
        webhook_id = headers.get("webhook-id")
        if webhook_id is None:
            return self.counts.control(method, path) or OK
        self.counts.total += 1
        self.counts.signed += "webhook-signature" in headers
        self.counts.first.setdefault(webhook_id, time.time())
        return OK


async def serve(port: int) -> None:
    counts = Counts()
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: Protocol(counts), "127.0.0.1", port, backlog=1024)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(serve(int(sys.argv[1])))
