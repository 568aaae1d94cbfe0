"""The one command: `python -m bench [--quick | --smoke] [--runs N] [--rabbitmq]
[--ceilings | --isolation]`.

Starts a receiver, then for each run the naive baseline and hookrelay side by side on fresh
PostgreSQL databases and unique queues, then every system and the frameworks alone
(`bench/frameworks`) up at once and sent to in turns, then the growth and memory phases on
hookrelay, then the isolation phase (healthy webhooks while another tenant's endpoint hangs,
fails or pushes back) on each hookrelay column, then Celery alone (a no-op task) on each
broker, and prints the table (medians of the runs with their spread, and per-run ratios).
`--ceilings` measures only Celery alone, `--isolation` only the isolation phase.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, replace
from datetime import timedelta
from pathlib import Path

from cryptography.fernet import Fernet

from bench import ceilings, floors, phases
from bench.isolation import isolation
from bench.load import Client
from bench.report import Results, render
from bench.systems import FRAMEWORKS, HOOKRELAY, HOOKRELAY_RABBITMQ, NAIVE, System
from tests.support.services import reachable
from tests.support.stack import Stack, free_port


@dataclass(frozen=True)
class Sizes:
    runs: int = 3
    e2e: int = 10_000
    e2e_singles: int = 4_000
    batch_requests: int = 200  # of 20 items
    singles: int = 1_000
    concurrency: int = 16
    rate: float = 100.0
    rate_seconds: float = 10.0
    growth_rows: int = 1_000_000
    growth_retries: int = 100_000
    backlog: int = 100_000
    memory_seconds: float = 15.0
    noop: int = 10_000
    isolation_bad: int = 5_000  # deliveries queued to the misbehaving endpoint
    isolation_rate: float = 50.0  # healthy single sends per second meanwhile
    isolation_seconds: float = 20.0
    turns: int = 6  # of single sends to each system's web in turn
    turn_singles: int = 500
    turn_warm_up: int = 400
    e2e_turns: int = 2  # of single sends end to end to each system in turn
    e2e_turn_singles: int = 2_000
    e2e_turn_warm_up: int = 300
    batch_turns: int = 2  # of 20-item batches end to end to each system in turn
    batch_turn_deliveries: int = 4_000
    batch_turn_warm_up: int = 1_000


FULL = Sizes()
QUICK = Sizes(
    1, 2_000, 1_000, 50, 300, 16, 100.0, 5.0, 100_000, 10_000, 10_000, 5.0, 2_000, 2_000, 50.0, 10.0
)
QUICK = replace(
    QUICK, turns=3, turn_singles=300, turn_warm_up=200, e2e_turn_singles=1_000, e2e_turn_warm_up=200
)
QUICK = replace(QUICK, batch_turn_deliveries=2_000, batch_turn_warm_up=400)
SMOKE = Sizes(1, 200, 50, 10, 100, 8, 50.0, 2.0, 1_000, 200, 200, 1.0, 200, 200, 20.0, 3.0)
SMOKE = replace(
    SMOKE, turns=2, turn_singles=20, turn_warm_up=20, e2e_turn_singles=50, e2e_turn_warm_up=20
)
SMOKE = replace(SMOKE, batch_turns=1, batch_turn_deliveries=200, batch_turn_warm_up=40)


class Receiver:
    """The asyncio receiver in its own process, so it never shares a core's GIL with the load."""

    def __init__(self) -> None:
        self.port = free_port()
        self.proc = subprocess.Popen([sys.executable, "-m", "bench.receiver", str(self.port)])
        deadline = time.monotonic() + 10
        while not reachable(self.port) and time.monotonic() < deadline:
            time.sleep(0.05)

    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=10)


def _start(system: System, workdir: Path, receiver: Receiver) -> tuple[Stack, Client]:
    stack = system.build(workdir)
    try:
        stack.start(workers=0)
        token, endpoint_id = system.tenant(stack, receiver.url())
    except BaseException:
        stack.stop()
        raise
    return stack, Client(stack.base_url, token, endpoint_id)


async def one_run(system: System, sizes: Sizes, receiver: Receiver, workdir: Path) -> dict:
    """Ingest with the worker stopped, then end to end (batches, then single sends) and
    latency with the workers started."""
    stack, client = _start(system, workdir, receiver)
    try:
        figures = await phases.ingest(
            client, sizes.batch_requests, sizes.singles, sizes.concurrency, stack.procs["web"].pid
        )
        system.discard_backlog(stack)
        processes = phases.Processes(stack.procs["web"].pid, system.start_workers(stack))
        figures |= await phases.end_to_end(
            client, sizes.e2e, sizes.concurrency, receiver.port, processes
        )
        figures |= await phases.end_to_end(
            client, sizes.e2e_singles, sizes.concurrency, receiver.port, processes, singles=True
        )
        figures |= await phases.latency(client, sizes.rate, sizes.rate_seconds, receiver.port)
        return figures
    finally:
        stack.stop()


async def in_turns(systems: list[System], sizes: Sizes, receiver: Receiver, workdir: Path) -> dict:
    """Every system up at once, and the frameworks alone (`bench/frameworks`): single sends
    to each system's web in turn with the workers stopped; then, the workers started,
    single sends end to end to each system in turn, and 20-item batches end to end to each
    system and to the frameworks alone in turn."""
    stacks: dict[str, tuple[Stack, Client]] = {}
    everyone = [*systems, FRAMEWORKS]
    try:
        for system in everyone:
            stacks[system.name] = _start(system, workdir / f"turns-{system.name}", receiver)
        webs = {s.name: (stacks[s.name][1], stacks[s.name][0].procs["web"].pid) for s in systems}
        figures: dict[str, dict] = {s.name: {} for s in everyone}
        for name, web in (await phases.single_sends_in_turns(webs, sizes)).items():
            figures[name] |= web
        started = {}
        for system in everyone:
            stack, client = stacks[system.name]
            system.discard_backlog(stack)
            workers = system.start_workers(stack)
            started[system.name] = (client, phases.Processes(stack.procs["web"].pid, workers))
        apps = {s.name: started[s.name] for s in systems}
        for name, e2e in (await phases.end_to_end_in_turns(apps, sizes, receiver.port)).items():
            figures[name] |= e2e
        batches = await phases.end_to_end_in_turns(started, sizes, receiver.port, singles=False)
        return {name: figures[name] | batches[name] for name in figures}
    finally:
        for stack, _client in stacks.values():
            stack.stop()


async def growth(system: System, sizes: Sizes, receiver: Receiver, workdir: Path) -> dict:
    """The same ingest and read figures on an empty table and with `growth_rows` stored.

    Two stacks side by side, one per table size, measured in turns (empty, full, empty,
    full, ...), so a drift of the machine during the phase falls on both alike.
    """
    stacks: dict[str, tuple[Stack, Client]] = {}
    out: dict[str, list[dict]] = {"empty": [], "full": []}
    try:
        for label in ("empty", "full"):
            stacks[label] = _start(system, workdir / label, receiver)
        ids = {
            label: phases.seed(stack, client.endpoint_id, 100, "delivered", timedelta(0))
            for label, (stack, client) in stacks.items()
        }
        stack, client = stacks["full"]
        phases.seed(stack, client.endpoint_id, sizes.growth_rows, "delivered", timedelta(0))
        day = timedelta(days=1)
        phases.seed(stack, client.endpoint_id, sizes.growth_retries, "scheduled_retry", day)
        phases.settle(stack)
        for _ in range(sizes.runs):
            for label, (stack, client) in stacks.items():
                figures = await phases.ingest(
                    client,
                    sizes.batch_requests,
                    sizes.singles,
                    sizes.concurrency,
                    stack.procs["web"].pid,
                )
                system.discard_backlog(stack)
                figures |= await phases.reads(client, stack, ids[label] * 10, sizes.concurrency)
                figures |= phases.scheduler_pass(stack)
                out[label].append(figures)
        stacks.pop("full")[0].stop()  # the memory phase runs alone
        stack, client = stacks["empty"]
        out["memory"] = [
            await phases.backlog_memory(system, stack, client.endpoint_id, sizes, receiver.port)
        ]
        return out
    finally:
        for stack, _client in stacks.values():
            stack.stop()


async def isolation_phase(
    sizes: Sizes, systems: list[System], receiver: Receiver, workdir: Path
) -> dict[str, dict]:
    """The isolation turns on each hookrelay column, on a stack of its own."""
    out = {}
    for system in systems:
        if system.naive:
            continue
        stack, client = _start(system, workdir / f"isolation-{system.name}", receiver)
        try:
            system.start_workers(stack)
            out[system.name] = await isolation(stack, client, sizes, receiver)
        finally:
            stack.stop()
    return out


def celery_alone(sizes: Sizes, systems: list[System]) -> dict[str, dict]:
    """The no-op ceilings on each broker a hookrelay column ran on, with its worker count."""
    out = {}
    for system in systems:
        if not system.naive:
            print(f"celery alone: {system.name}", file=sys.stderr, flush=True)
            out[system.name] = ceilings.noop(system, system.broker_url, sizes.noop)
    return out


async def main_async(
    sizes: Sizes, systems: list[System], workdir: Path, only_isolation: bool = False
) -> Results:
    receiver = Receiver()
    results = Results(sizes=asdict(sizes), systems=[s.name for s in systems])
    try:
        if only_isolation:
            results.isolation = await isolation_phase(sizes, systems, receiver, workdir)
            return results
        for run in range(sizes.runs):
            for system in systems:
                print(f"run {run + 1}/{sizes.runs}: {system.name}", file=sys.stderr, flush=True)
                figures = await one_run(system, sizes, receiver, workdir / f"{system.name}-{run}")
                results.runs.setdefault(system.name, []).append(figures)
            print(f"run {run + 1}/{sizes.runs}: single sends in turns", file=sys.stderr, flush=True)
            turns = await in_turns(systems, sizes, receiver, workdir / f"turns-{run}")
            for name, figures in turns.items():
                if name == FRAMEWORKS.name:  # not a column of the main table
                    results.runs.setdefault(name, []).append(figures)
                else:
                    results.runs[name][-1] |= figures
        print("growth and memory: hookrelay", file=sys.stderr, flush=True)
        results.growth = await growth(HOOKRELAY, sizes, receiver, workdir / "growth")
        results.isolation = await isolation_phase(sizes, systems, receiver, workdir)
        print("the frameworks alone: one single send", file=sys.stderr, flush=True)
        results.floors = await floors.single_send(
            receiver.proc.pid, receiver.url(), sizes.singles, sizes.concurrency
        )
    finally:
        receiver.stop()
    results.ceilings = celery_alone(sizes, systems)
    return results


def parse(argv: list[str] | None = None) -> tuple[Sizes, list[System], argparse.Namespace]:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_true", help="small sizes, one run (develop)")
    size.add_argument("--smoke", action="store_true", help="a few hundred deliveries (tests)")
    parser.add_argument("--runs", type=int, help="runs per system (default 3)")
    parser.add_argument("--rabbitmq", action="store_true", help="also hookrelay on RabbitMQ")
    only = parser.add_mutually_exclusive_group()
    only.add_argument(
        "--ceilings", action="store_true", help="only Celery alone: a no-op task's rates"
    )
    only.add_argument(
        "--isolation", action="store_true", help="only the isolation phase (hookrelay columns)"
    )
    parser.add_argument("--json", type=Path, help="also write the raw figures here")
    args = parser.parse_args(argv)
    sizes = SMOKE if args.smoke else QUICK if args.quick else FULL
    if args.runs:
        sizes = replace(sizes, runs=args.runs)
    systems = [NAIVE, HOOKRELAY] + ([HOOKRELAY_RABBITMQ] if args.rabbitmq else [])
    return sizes, systems, args


def main(argv: list[str] | None = None) -> Results:
    sizes, systems, args = parse(argv)
    # hookrelay refuses to start without a key outside the embedded default; a throwaway
    # key is enough for a run whose databases are dropped afterwards.
    os.environ.setdefault("HOOKRELAY_ENCRYPTION_KEYS", Fernet.generate_key().decode())
    if args.ceilings:
        results = Results(sizes=asdict(sizes), systems=[s.name for s in systems])
        results.ceilings = celery_alone(sizes, systems)
    else:
        with tempfile.TemporaryDirectory(prefix="hookrelay-bench-") as tmp:
            results = asyncio.run(main_async(sizes, systems, Path(tmp), args.isolation))
    if args.json:
        args.json.write_text(json.dumps(asdict(results), indent=2))
    print(render(results))
    return results
