"""The isolation phase: one tenant's healthy webhooks while another tenant's endpoint misbehaves.

On one running hookrelay (shipped defaults, the benchmark's worker processes), healthy single
sends go out at a steady rate for a fixed time, in turn:

- quiet: nothing else queued (this run's baseline, after two seconds of the same sends to warm
  the stack up);
- hang: a second tenant has `bad` deliveries queued to an endpoint that accepts the connection
  and never answers (each attempt holds a worker thread until the delivery timeout);
- fail: the same to an endpoint answering 500;
- busy: the same to an endpoint answering 429 with `Retry-After: 5`.

Each misbehaving endpoint is deleted after its turn (its deliveries go with it), and the next
turn starts once the receiver holds no request of it open. Reported per turn: the healthy
accept-to-receipt p50 and p99, healthy deliveries not received within a minute, the requests the
bad endpoint received, the most it had open at once, and how many of them arrived while its
circuit was open (read from the endpoint's `circuit` field, polled every 100 ms).
"""

from __future__ import annotations

import asyncio
import sys
import time
from datetime import datetime
from typing import TYPE_CHECKING

import aiohttp

from bench.load import Client, closed_loop, open_loop, percentile, receiver_get
from tests.support.stack import Stack, Tenant

if TYPE_CHECKING:
    from bench.run import Receiver, Sizes

Figures = dict[str, float]
TURNS = {"quiet": None, "hang": "/hang", "fail": "/fail", "busy": "/busy"}


async def isolation(stack: Stack, healthy: Client, sizes: Sizes, receiver: Receiver) -> dict:
    """Every turn on one stack whose workers run; {turn: figures}."""
    out: dict[str, Figures] = {}
    bad_tenant = stack.tenant()
    rate, seconds = sizes.isolation_rate, sizes.isolation_seconds
    # Warm up first (connections, pools, first queries), so the quiet turn is a fair baseline.
    await receiver_get(receiver.port, "/reset", "POST")
    await _healthy(healthy, sizes.isolation_rate, 2.0, receiver.port)
    for turn, path in TURNS.items():
        print(f"isolation: {turn}", file=sys.stderr, flush=True)
        await receiver_get(receiver.port, "/reset", "POST")
        if path is None:
            out[turn] = await _healthy(healthy, rate, seconds, receiver.port)
            continue
        url = f"http://127.0.0.1:{receiver.port}{path}"
        bad = Client(stack.base_url, bad_tenant.api_key, stack.endpoint(bad_tenant, url)["id"])
        await closed_loop(bad.batch, sizes.isolation_bad // 20, 8, timeout=300)
        watch = asyncio.create_task(_open_intervals(stack, bad_tenant, bad.endpoint_id))
        figures = await _healthy(healthy, rate, seconds, receiver.port)
        watch.cancel()
        intervals = await _result(watch)
        seen = (await receiver_get(receiver.port, "/misbehaving"))[path]
        figures |= {
            "bad_requests": float(seen["requests"]),
            "bad_most_open": float(seen["most_open"]),
        }
        if intervals is not None:  # None: the endpoint has no circuit to read
            figures["bad_while_open"] = float(_inside(seen["arrivals"], intervals))
        out[turn] = figures
        gone = f"{bad_tenant.workspace_id}/endpoints/{bad.endpoint_id}"
        stack.management(bad_tenant, "DELETE", gone)
        await _until_closed(receiver.port, path, timeout=60)
    return out


async def _healthy(client: Client, rate: float, seconds: float, port: int) -> Figures:
    sent = await open_loop(client.single, rate, seconds)
    deadline = time.monotonic() + 60
    # Its own ids, not a count: a late delivery of the turn before must not end the wait.
    arrived = await receiver_get(port, "/arrivals")
    while time.monotonic() < deadline and not all(i in arrived for i in sent.ids):
        await asyncio.sleep(0.05)
        arrived = await receiver_get(port, "/arrivals")
    delays = [arrived[i] - sent.accepted_at[i] for i in sent.ids if i in arrived]
    return {
        "healthy_p50_ms": percentile(delays, 50) * 1000,
        "healthy_p99_ms": percentile(delays, 99) * 1000,
        "healthy_late": float(len(sent.ids) - len(delays)),
    }


async def _open_intervals(
    stack: Stack, tenant: Tenant, endpoint_id: str
) -> list[list[float]] | None:
    """Poll the endpoint's circuit; [first seen open, open until] for each opening seen.

    Runs until cancelled and then returns what it saw (see `_result`); None when the
    endpoint's JSON has no `circuit` at all.
    """
    intervals: list[list[float]] = []
    has_circuit = False
    url = f"{stack.base_url}/management/v1/workspaces/{tenant.workspace_id}/endpoints/{endpoint_id}"
    headers = {"Authorization": f"Bearer {tenant.management_token}"}
    try:
        async with aiohttp.ClientSession(headers=headers) as session:
            while True:
                async with session.get(url) as resp:
                    body = await resp.json()
                has_circuit = has_circuit or "circuit" in body
                circuit = body.get("circuit") or {}
                seen = time.time()
                until = circuit.get("openUntil")
                if circuit.get("state") == "open" and until:
                    end = datetime.fromisoformat(until.replace("Z", "+00:00")).timestamp()
                    if intervals and intervals[-1][1] == end:
                        pass  # the same opening, seen again
                    else:
                        intervals.append([seen, end])
                await asyncio.sleep(0.1)
    except asyncio.CancelledError:
        return intervals if has_circuit else None


async def _result(task: asyncio.Task[list[list[float]] | None]) -> list[list[float]] | None:
    try:
        return await task
    except asyncio.CancelledError:
        return None


def _inside(arrivals: list[float], intervals: list[list[float]]) -> int:
    """Arrivals strictly inside an observed open interval (50 ms margin at its end)."""
    return sum(1 for t in arrivals if any(start < t < end - 0.05 for start, end in intervals))


async def _until_closed(port: int, path: str, timeout: float) -> None:
    """Wait until the receiver holds no request of `path` open (hung attempts timed out)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if (await receiver_get(port, "/misbehaving"))[path]["open"] == 0:
            return
        await asyncio.sleep(0.25)
