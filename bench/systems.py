"""The systems under test, each started from its own Procfile with the test harness's Stack.

hookrelay runs as shipped (its Procfile and production timings, with its ingest rate limits
out of the load's reach); the naive baseline runs from `bench/naive/Procfile` on the same
PostgreSQL and broker.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from kombu import Connection
from sqlalchemy import text

from tests.support.stack import BACKENDS, Stack, build

NAIVE_PROCFILE = Path(__file__).parent / "naive" / "Procfile"
FRAMEWORKS_PROCFILE = Path(__file__).parent / "frameworks" / "Procfile"
UNREACHED_LIMIT = "1000000/second"
# The harness's fast test timings; the benchmark measures the shipped defaults instead.
TEST_TIMINGS = (
    "HOOKRELAY_RETRY_SCHEDULE",
    "HOOKRELAY_DELIVERY_TIMEOUT",
    "HOOKRELAY_LEASE_SECONDS",
    "HOOKRELAY_REQUEUE_AFTER",
    "HOOKRELAY_SCHEDULER_INTERVAL",
    "HOOKRELAY_INGEST_TIMEOUT",
    "WEB_CONCURRENCY",
    "WORKER_CONCURRENCY",
    "HOOKRELAY_CIRCUIT_FAILURES",
    "HOOKRELAY_CIRCUIT_COOLDOWN",
    "HOOKRELAY_CIRCUIT_COOLDOWN_MAX",
    "HOOKRELAY_ENDPOINT_MAX_IN_FLIGHT",
)


@dataclass(frozen=True)
class System:
    """One column of the table: which app, on which broker."""

    name: str
    naive: bool = False
    # hookrelay's frameworks with nothing between them, storing one row per delivery
    # (bench/frameworks)
    frameworks: bool = False
    rabbitmq: bool = False
    # hookrelay's worker is I/O-bound threads in one process, scaled like any Procfile type
    # (one process per core); the naive worker is one prefork worker with a child per core.
    worker_processes: int = 1

    @property
    def backend(self) -> str:
        """The test harness's backend this system runs on (PostgreSQL and its broker)."""
        return "pg-rabbitmq" if self.rabbitmq else "pg-redis"

    @property
    def broker_url(self) -> str:
        return str(BACKENDS[self.backend][1])

    def build(self, workdir: Path) -> Stack:
        stack = build(self.backend, workdir)
        for key in TEST_TIMINGS:
            stack.env.pop(key, None)
        if self.naive:
            stack.procfile_path = NAIVE_PROCFILE
            stack.env["NAIVE_API_KEY"] = secrets.token_urlsafe(24)
        elif self.frameworks:
            stack.procfile_path = FRAMEWORKS_PROCFILE
            stack.env["FRAMEWORKS_API_KEY"] = secrets.token_urlsafe(24)
        else:
            # The load is one key of one workspace as fast as it goes, which the shipped
            # ingest limits (500/s per key, 1,000/s per workspace, in each web process) exist
            # to refuse: a fast run ended in a 429. Raised, so the limiter still runs and is
            # measured, but never answers 429.
            stack.env["HOOKRELAY_INGEST_KEY_LIMIT"] = UNREACHED_LIMIT
            stack.env["HOOKRELAY_INGEST_LIMIT"] = UNREACHED_LIMIT
        return stack

    def tenant(self, stack: Stack, url: str) -> tuple[str, str]:
        """Create the sender's credentials and one endpoint at `url`: (token, endpoint id)."""
        if self.frameworks:  # no endpoint rows: its workers (started after this) post to `url`
            stack.env["FRAMEWORKS_URL"] = url
            return stack.env["FRAMEWORKS_API_KEY"], "ep_frameworks"
        if self.naive:
            endpoint_id = f"ep_{secrets.token_hex(8)}"
            with stack.sessions.begin() as session:
                session.execute(
                    text("INSERT INTO endpoints (id, url) VALUES (:id, :url)"),
                    {"id": endpoint_id, "url": url},
                )
            return stack.env["NAIVE_API_KEY"], endpoint_id
        tenant = stack.tenant()
        return tenant.api_key, stack.endpoint(tenant, url)["id"]

    def start_workers(self, stack: Stack) -> list[int]:
        """Start the worker processes; return their process-group ids."""
        names = [f"worker-{n}" for n in range(self.worker_processes)]
        procs = [stack.run("worker", name=name) for name in names]
        for name in names:
            stack.wait_worker_ready(name)
        return [proc.pid for proc in procs]

    def discard_backlog(self, stack: Stack) -> None:
        """Forget what an ingest-only phase left queued, so the next phase starts empty."""
        with Connection(stack.env["BROKER_URL"], connect_timeout=3) as conn:
            conn.default_channel.queue_purge(stack.env["HOOKRELAY_QUEUE"])
        # hookrelay's rows too, or the scheduler would publish them again after requeue_after
        if not (self.naive or self.frameworks):
            with stack.sessions.begin() as session:
                session.execute(
                    text(
                        "UPDATE deliveries SET status = 'delivered', enqueued_at = NULL"
                        " WHERE status = 'pending'"
                    )
                )


NAIVE = System("naive", naive=True)
CORES = os.cpu_count() or 2
# One worker process per core on either broker. Fewer processes make larger groups of claims
# and records per process; two per core on Redis drained a backlog no faster and cost single
# sends 1.4x the CPU of one per core (docs/performance.md, round 12).
HOOKRELAY = System("hookrelay", worker_processes=CORES)
FRAMEWORKS = System("frameworks", frameworks=True, worker_processes=CORES)
HOOKRELAY_RABBITMQ = System("hookrelay-rabbitmq", rabbitmq=True, worker_processes=CORES)
