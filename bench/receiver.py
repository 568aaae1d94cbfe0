"""A fast webhook receiver on 127.0.0.1: answers 200 and counts unique deliveries.

A bare asyncio protocol (no framework) in its own process, so the receiver is never what
limits a run. Deliveries are told apart by `webhook-id` (hookrelay and the naive baseline both
send it); the first arrival time of each is kept for the latency figures.

Control routes: `GET /stats` -> {"unique", "total", "signed"}, `GET /arrivals` -> {id: first
arrival, epoch seconds}, `POST /reset` forgets everything. Run as `python -m bench.receiver PORT`.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time

OK = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"


class Counts:
    def __init__(self) -> None:
        self.first: dict[str, float] = {}
        self.total = 0
        self.signed = 0  # arrivals with a `webhook-signature`: tells the systems apart

    def control(self, method: str, path: str) -> bytes:
        if path == "/stats":
            body = json.dumps(
                {"unique": len(self.first), "total": self.total, "signed": self.signed}
            ).encode()
        elif path == "/arrivals":
            body = json.dumps(self.first).encode()
        elif path == "/reset" and method == "POST":
            self.first, self.total, self.signed, body = {}, 0, 0, b"{}"
        else:
            return b""
        head = f"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {len(body)}"
        return head.encode() + b"\r\n\r\n" + body


class Protocol(asyncio.Protocol):
    def __init__(self, counts: Counts) -> None:
        self.counts = counts
        self.buffer = b""
        self.transport: asyncio.Transport | None = None

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
            self.transport.write(self.answer(lines[0], headers))
            if headers.get("connection", "").lower() == "close":
                self.transport.close()
                return

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
