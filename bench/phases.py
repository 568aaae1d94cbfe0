"""The measurements, one function per figure family; each returns named figures."""

from __future__ import annotations

import asyncio
import contextlib
import os
import statistics
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import psycopg
from sqlalchemy import select

from app.ids import new_id
from app.models import Delivery
from app.queue import Publisher, make_celery
from bench.load import Client, Result, closed_loop, open_loop, percentile, receiver_get
from tasks.scheduler import run_pass
from tests.support.services import libpq_url
from tests.support.stack import Stack

if TYPE_CHECKING:
    from bench.run import Sizes
    from bench.systems import System

Figures = dict[str, float]
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


async def ingest(
    client: Client, batch_requests: int, singles: int, concurrency: int, web: int
) -> Figures:
    """Ingest only (no worker): batch items/s and single requests/s with their latencies,
    and the web processes' CPU per accepted item and request (`web`: their process group).

    A warm-up round first, so connection pools and lazy imports are not counted.
    """
    await closed_loop(client.batch, concurrency, concurrency, timeout=60)
    await closed_loop(client.single, concurrency * 2, concurrency, timeout=60)
    cpu = group_cpu_seconds(web)
    batch = await closed_loop(client.batch, batch_requests, concurrency, timeout=300)
    batch_cpu, cpu = group_cpu_seconds(web) - cpu, group_cpu_seconds(web)
    single = await closed_loop(client.single, singles, concurrency, timeout=300)
    single_cpu = group_cpu_seconds(web) - cpu
    return {
        "batch_items_s": batch.rate("items"),
        "batch_p50_ms": batch.percentile(50),
        "batch_p99_ms": batch.percentile(99),
        "batch_cpu_ms": batch_cpu / len(batch.ids) * 1000,
        "single_rps": single.rate(),
        "single_p50_ms": single.percentile(50),
        "single_p99_ms": single.percentile(99),
        "single_cpu_ms": single_cpu / len(single.ids) * 1000,
        # Requests one fully busy web core would accept at that cost.
        "single_rps_core": len(single.ids) / single_cpu if single_cpu else 0.0,
    }


async def single_sends_in_turns(
    webs: dict[str, tuple[Client, int]], sizes: Sizes
) -> dict[str, Figures]:
    """Single sends to each system's web in turns (workers stopped), so that a drift of the
    machine falls on every system alike; each one's web CPU per accepted request over all
    its turns. `webs`: system name -> (its client, its web process group).

    Measured apart, minutes from each other, the two systems' figures moved with the
    machine's state more than with their code (docs/performance.md, round 13). Each system
    first gets `turn_warm_up` sends: every web process then knows the key, and every pooled
    connection has prepared its statement, as in a service that has been running.
    """
    for client, _web in webs.values():
        await closed_loop(client.single, sizes.turn_warm_up, sizes.concurrency, timeout=60)
    cpu = dict.fromkeys(webs, 0.0)
    accepted = dict.fromkeys(webs, 0)
    for _ in range(sizes.turns):
        for name, (client, web) in webs.items():
            before = group_cpu_seconds(web)
            done = await closed_loop(client.single, sizes.turn_singles, sizes.concurrency, 300)
            cpu[name] += group_cpu_seconds(web) - before
            accepted[name] += len(done.ids)
    return {
        name: {
            "turns_single_cpu_ms": cpu[name] / accepted[name] * 1000,
            "turns_single_rps_core": accepted[name] / cpu[name] if cpu[name] else 0.0,
        }
        for name in webs
    }


async def end_to_end_in_turns(
    systems: dict[str, tuple[Client, Processes]], sizes: Sizes, port: int, singles: bool = True
) -> dict[str, Figures]:
    """Single sends (or 20-item batches) end to end to each system in turn, every system's
    workers up, so that a drift of the machine falls on every system alike: each one's rate
    and CPU per delivery over all its turns, named as `end_to_end` names them with a
    `turns_` prefix. `systems`: system name -> (its client, its processes).

    Measured apart, the ratio of two systems' rates moved with the machine from one run to
    the next (1.20x-2.62x on the same code, docs/performance.md, round 14). Each system
    first gets a warm-up, so that its workers' pools are open.
    """
    turns, count, warm_up = (
        (sizes.e2e_turns, sizes.e2e_turn_singles, sizes.e2e_turn_warm_up)
        if singles
        else (sizes.batch_turns, sizes.batch_turn_deliveries, sizes.batch_turn_warm_up)
    )
    for client, processes in systems.values():
        await end_to_end(client, warm_up, sizes.concurrency, port, processes, singles)
    measured: dict[str, list[Figures]] = {name: [] for name in systems}
    for _ in range(turns):
        for name, (client, processes) in systems.items():
            measured[name].append(
                await end_to_end(client, count, sizes.concurrency, port, processes, singles)
            )
    name = "e2e_single" if singles else "e2e"
    return {system: _pooled(figures, name) for system, figures in measured.items()}


def _pooled(turns: list[Figures], name: str = "e2e_single") -> Figures:
    """Turns of equal size as one: the rate over their summed time, CPU per delivery averaged,
    the lost and duplicated summed. `name`: the figures' prefix, as `end_to_end` names them."""
    pooled = {f"turns_{key}": statistics.fmean(t[key] for t in turns) for key in turns[0]}
    pooled[f"turns_{name}_per_s"] = len(turns) / sum(1 / t[f"{name}_per_s"] for t in turns)
    for key in (f"{name}_lost", f"{name}_duplicates"):
        pooled[f"turns_{key}"] = sum(t[key] for t in turns)
    return pooled


async def wait_arrivals(port: int, expected: int, timeout: float) -> None:
    """Poll the receiver until it has `expected` unique deliveries, or the deadline passes."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if (await receiver_get(port, "/stats"))["unique"] >= expected:
            return
        await asyncio.sleep(0.05)


@dataclass(frozen=True)
class Processes:
    """The processes a delivery passes through, whose CPU an end-to-end phase counts: the
    web and worker process groups of one system, and the PostgreSQL server they share."""

    web: int
    workers: list[int]

    def cpu_seconds(self) -> dict[str, float]:
        return {
            "web": group_cpu_seconds(self.web),
            "workers": sum(group_cpu_seconds(group) for group in self.workers),
            "pg": postgres_cpu_seconds(),
        }


async def end_to_end(
    client: Client,
    count: int,
    concurrency: int,
    port: int,
    processes: Processes,
    singles: bool = False,
) -> Figures:
    """`count` deliveries in 20-item batches (or single sends) until the receiver has all,
    and the CPU each delivery cost the web, the workers and PostgreSQL meanwhile.

    Where everything shares the machine's cores, the rate is the cores over that CPU, so
    the CPU says where a system spends what limits it (docs/performance.md).
    """
    await receiver_get(port, "/reset", "POST")
    send, requests, name = (
        (client.single, count, "e2e_single") if singles else (client.batch, count // 20, "e2e")
    )
    before = processes.cpu_seconds()
    start = time.perf_counter()
    sent = await closed_loop(send, requests, concurrency, timeout=600)
    await wait_arrivals(port, len(sent.ids), timeout=max(60.0, count / 40))
    elapsed = time.perf_counter() - start
    after = processes.cpu_seconds()
    cpu = {
        f"{name}_{part}_ms": (after[part] - before[part]) / len(sent.ids) * 1000 for part in before
    }
    await asyncio.sleep(1.0)  # let a late repeat arrive before counting duplicates
    stats = await receiver_get(port, "/stats")
    arrived = await receiver_get(port, "/arrivals")
    return cpu | {
        f"{name}_cpu_ms": sum(cpu.values()),
        f"{name}_per_s": len(sent.ids) / elapsed,
        f"{name}_lost": float(len(set(sent.ids) - arrived.keys())),
        f"{name}_duplicates": float(stats["total"] - stats["unique"]),
        f"{name}_signed_share": stats["signed"] / stats["total"] if stats["total"] else 0.0,
    }


async def latency(client: Client, rate: float, seconds: float, port: int) -> Figures:
    """Single sends at a steady rate; time from the 202 reaching the client to receipt.

    A fast worker can deliver before the client has read the 202, so a few delays may be
    slightly negative; they are kept, not clamped.
    """
    await receiver_get(port, "/reset", "POST")
    sent: Result = await open_loop(client.single, rate, seconds)
    await wait_arrivals(port, len(sent.ids), timeout=60)
    arrived = await receiver_get(port, "/arrivals")
    delays = [arrived[i] - sent.accepted_at[i] for i in sent.ids if i in arrived]
    return {
        "latency_p50_ms": percentile(delays, 50) * 1000,
        "latency_p99_ms": percentile(delays, 99) * 1000,
        "latency_lost": float(len(sent.ids) - len(delays)),
    }


async def reads(client: Client, stack: Stack, ids: list[str], concurrency: int) -> Figures:
    """The results endpoint (requests/s) and the per-endpoint list query (ms per page)."""
    got = await closed_loop(
        lambda s, n: _get(client, s, ids[n % len(ids)]), len(ids), concurrency, 300
    )
    page = (
        select(Delivery)
        .where(Delivery.endpoint_id == client.endpoint_id)
        .order_by(Delivery.id.desc())
        .limit(50)
    )
    timings = []
    with stack.sessions() as session:
        for _ in range(100):
            start = time.perf_counter()
            assert len(session.scalars(page).all()) == 50
            timings.append(time.perf_counter() - start)
    return {"get_rps": got.rate(), "list_ms": percentile(timings, 50) * 1000}


async def _get(client: Client, session: object, delivery_id: str) -> list[str]:
    await client.get(session, delivery_id)  # type: ignore[arg-type]
    return []


def scheduler_pass(stack: Stack, passes: int = 20) -> Figures:
    """Median time of one scheduler pass (the same function the scheduler process runs)."""
    settings = stack.settings
    publisher = Publisher(make_celery(settings))
    timings = []
    for _ in range(passes):
        start = time.perf_counter()
        run_pass(stack.sessions, publisher, settings)
        timings.append(time.perf_counter() - start)
    return {"pass_ms": percentile(timings, 50) * 1000}


def seed(stack: Stack, endpoint_id: str, rows: int, status: str, due_in: timedelta) -> list[str]:
    """COPY `rows` deliveries of `endpoint_id` with one status straight into the table."""
    url = libpq_url(stack.env["DATABASE_URL"])
    now = datetime.now(UTC)
    columns = (
        "id, workspace_id, environment_id, endpoint_id, idempotency_key, payload, status,"
        " attempts, next_attempt_at, enqueued_at, created_at, updated_at"
    )
    ids = [new_id("del") for _ in range(rows)]
    with psycopg.connect(url) as conn:
        ws, env = conn.execute(
            "SELECT workspace_id, environment_id FROM endpoints WHERE id = %s", (endpoint_id,)
        ).fetchone() or ("", "")
        enqueued = now if status == "pending" else None
        with conn.cursor().copy(f"COPY deliveries ({columns}) FROM STDIN") as copy:
            for n, delivery_id in enumerate(ids):
                copy.write_row(
                    (
                        delivery_id,
                        ws,
                        env,
                        endpoint_id,
                        f"seed-{n}",
                        '{"n":1}',
                        status,
                        0 if status == "pending" else 1,
                        now + due_in,
                        enqueued,
                        now,
                        now,
                    )
                )
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE deliveries")
    return ids


def settle(stack: Stack) -> None:
    """Write the seeded rows out now (a checkpoint), not during the measurement after it.

    Seeding a million rows fills the WAL; left alone, PostgreSQL checkpoints a few minutes
    later, in the middle of whatever is being timed.
    """
    # A non-superuser may not checkpoint; the figures are then noisier, not wrong.
    with (
        psycopg.connect(libpq_url(stack.env["DATABASE_URL"]), autocommit=True) as conn,
        contextlib.suppress(psycopg.errors.InsufficientPrivilege),
    ):
        conn.execute("CHECKPOINT")


def _process_files(name: str, wanted: Callable[[Path], bool]) -> Iterator[str]:
    """`/proc/<pid>/<name>` of every live process whose `/proc/<pid>` `wanted` picks."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if wanted(entry):
                yield (entry / name).read_text()
        except OSError:  # the process ended meanwhile
            continue


def _group_files(group: int, name: str) -> Iterator[str]:
    """`/proc/<pid>/<name>` of every live process of one process group (a Procfile process)."""
    return _process_files(name, lambda entry: os.getpgid(int(entry.name)) == group)


def process_rss_mb(root_pid: int) -> float:
    """Largest resident set among the processes of one process group (a Procfile process)."""
    largest = 0
    for status in _group_files(root_pid, "status"):
        for line in status.splitlines():
            if line.startswith("VmRSS:"):
                largest = max(largest, int(line.split()[1]))
    return largest / 1024


def group_cpu_seconds(group: int) -> float:
    """User + system CPU used so far by the live processes of one process group.

    Counted over a fixed amount of work, this is what the work cost the group, whatever else
    runs on the machine (rates and latencies are not).
    """
    return sum(_cpu_seconds(stat) for stat in _group_files(group, "stat"))


def postgres_cpu_seconds() -> float:
    """CPU used so far by the live processes of the local PostgreSQL server (its backends
    keep running between statements: the systems' pools hold them).

    Read from `schedstat`, in nanoseconds: `stat` truncates each process to 10 ms ticks, and
    a few hundred deliveries spread over a pool's backends cost each less than one tick.
    A backend is one thread, so its `schedstat` is the whole process.
    """
    stats = _process_files("schedstat", lambda entry: (entry / "comm").read_text() == "postgres\n")
    return sum(int(stat.split()[0]) for stat in stats) / 1e9


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU used so far by one process."""
    return _cpu_seconds(Path(f"/proc/{pid}/stat").read_text())


def _cpu_seconds(stat: str) -> float:
    """utime + stime of a `/proc/<pid>/stat` line, in seconds."""
    fields = stat.rsplit(")", 1)[1].split()  # after the command name, which may hold spaces
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


async def backlog_memory(
    system: System, stack: Stack, endpoint_id: str, sizes: Sizes, port: int
) -> Figures:
    """Worker RSS while the workers go through `sizes.backlog` published deliveries."""
    ids = seed(stack, endpoint_id, sizes.backlog, "pending", timedelta(0))
    start = time.perf_counter()
    Publisher(make_celery(stack.settings)).publish(ids)
    publish_rate = sizes.backlog / (time.perf_counter() - start)
    await receiver_get(port, "/reset", "POST")
    groups = system.start_workers(stack)
    peak, begin = 0.0, time.perf_counter()
    while time.perf_counter() - begin < sizes.memory_seconds:
        peak = max([peak, *(process_rss_mb(group) for group in groups)])
        await asyncio.sleep(0.25)
    drained = (await receiver_get(port, "/stats"))["unique"]
    return {
        "worker_rss_mb": peak,
        "backlog_publish_s": publish_rate,
        "backlog_drain_s": drained / (time.perf_counter() - begin),
    }
