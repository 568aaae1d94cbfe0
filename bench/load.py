"""An async load generator (aiohttp): fixed counts, bounded concurrency, per-request latency.

One keep-alive connection per concurrent client, so the generator costs little next to the
servers it drives; every loop is bounded by a request count and a deadline.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp

Request = Callable[[aiohttp.ClientSession, int], Awaitable[list[str]]]


@dataclass
class Result:
    """What a load run produced: accepted delivery ids, request latencies, wall time."""

    requests: int = 0
    elapsed: float = 0.0
    ids: list[str] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list)
    accepted_at: dict[str, float] = field(default_factory=dict)

    def rate(self, unit: str = "requests") -> float:
        done = self.requests if unit == "requests" else len(self.ids)
        return done / self.elapsed if self.elapsed else 0.0

    def percentile(self, q: float) -> float:
        """Latency percentile in milliseconds."""
        return percentile(self.latencies, q) * 1000


def percentile(values: list[float], q: float) -> float:
    if len(values) < 2:
        return values[0] if values else float("nan")
    return statistics.quantiles(values, n=100, method="inclusive")[round(q) - 1]


class Client:
    """Sends ingest and results requests to one hookrelay-shaped API."""

    def __init__(self, base_url: str, token: str, endpoint_id: str) -> None:
        self.base_url = base_url
        self.headers = {"Authorization": f"Bearer {token}"}
        self.endpoint_id = endpoint_id

    async def _post(self, session: aiohttp.ClientSession, path: str, body: Any) -> Any:
        async with session.post(self.base_url + path, json=body, headers=self.headers) as resp:
            data = await resp.json()
            if resp.status != 202:
                raise RuntimeError(f"{path}: {resp.status} {data}")
            return data

    async def batch(self, session: aiohttp.ClientSession, n: int, size: int = 20) -> list[str]:
        items = [{"endpointId": self.endpoint_id, "payload": {"n": n, "i": i}} for i in range(size)]
        data = await self._post(session, "/api/ingest/batch", {"items": items})
        return [item["deliveryId"] for item in data["items"]]

    async def single(self, session: aiohttp.ClientSession, n: int) -> list[str]:
        data = await self._post(session, f"/api/ingest/{self.endpoint_id}", {"payload": {"n": n}})
        return [data["deliveryId"]]

    async def get(self, session: aiohttp.ClientSession, delivery_id: str) -> None:
        url = f"{self.base_url}/api/deliveries/{delivery_id}"
        async with session.get(url, headers=self.headers) as resp:
            await resp.read()
            if resp.status != 200:
                raise RuntimeError(f"GET delivery: {resp.status}")


def _session(concurrency: int) -> aiohttp.ClientSession:
    connector = aiohttp.TCPConnector(limit=concurrency, force_close=False)
    return aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=60))


async def closed_loop(send: Request, count: int, concurrency: int, timeout: float) -> Result:
    """`count` requests from `concurrency` clients, each sending its next as soon as it can."""
    result = Result(requests=count)
    counter = iter(range(count))

    async def client(session: aiohttp.ClientSession) -> None:
        for n in counter:
            start = time.time()
            ids = await send(session, n)
            result.latencies.append(time.time() - start)
            result.ids += ids

    async with _session(concurrency) as session:
        start = time.perf_counter()
        workers = [client(session) for _ in range(concurrency)]
        await asyncio.wait_for(asyncio.gather(*workers), timeout)
        result.elapsed = time.perf_counter() - start
    return result


async def open_loop(send: Request, rate: float, seconds: float) -> Result:
    """Requests started at a steady `rate` per second, whatever the answers' latency."""
    count = int(rate * seconds)
    result = Result(requests=count)

    async def one(session: aiohttp.ClientSession, n: int) -> None:
        start = time.time()
        ids = await send(session, n)
        accepted = time.time()
        result.latencies.append(accepted - start)
        result.ids += ids
        result.accepted_at.update(dict.fromkeys(ids, accepted))

    async with _session(64) as session:
        begin = time.perf_counter()
        tasks = []
        for n in range(count):
            await asyncio.sleep(max(0.0, begin + n / rate - time.perf_counter()))
            tasks.append(asyncio.create_task(one(session, n)))
        await asyncio.wait_for(asyncio.gather(*tasks), seconds + 60)
        result.elapsed = time.perf_counter() - begin
    return result


async def receiver_get(port: int, path: str, method: str = "GET") -> Any:
    async with (
        aiohttp.ClientSession() as session,
        session.request(method, f"http://127.0.0.1:{port}{path}") as resp,
    ):
        return await resp.json()
