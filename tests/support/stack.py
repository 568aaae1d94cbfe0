"""A whole hookrelay system for the tests: the Procfile's processes against one backend.

Every process runs exactly as the Procfile says (`release`, then `web`, `worker`,
`scheduler`), as real subprocesses talking to a real database and broker.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
import requests
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

from app.config import Settings
from app.db import make_engine, session_factory
from app.models import Attempt, Delivery, Endpoint
from app.schemas.responses import EndpointOut
from app.services.workspaces import create_endpoint, create_workspace
from tests.support.services import AMQP_URL, PG_ADMIN_URL, REDIS_URL, libpq_url, reachable

ROOT = Path(__file__).resolve().parents[2]
FINAL = ("delivered", "failed", "dead_letter")

# name -> (needs, broker)
BACKENDS: dict[str, tuple[tuple[str, ...], str | None]] = {
    "sqlite": ((), None),
    "pg-redis": (("postgresql", "redis"), REDIS_URL),
    "pg-rabbitmq": (("postgresql", "rabbitmq"), AMQP_URL),
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def procfile(path: Path = ROOT / "Procfile") -> dict[str, str]:
    lines = path.read_text().splitlines()
    return dict(line.split(": ", 1) for line in lines if line and not line.startswith("#"))


@dataclass
class Tenant:
    workspace_id: str
    environment_id: str
    api_key: str
    management_token: str


@dataclass
class Stack:
    name: str
    workdir: Path
    env: dict[str, str]
    port: int
    pg_database: str | None = None
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    engine: Engine | None = None
    procfile_path: Path = ROOT / "Procfile"
    # worker process name -> the port its Prometheus metrics are served on
    metrics_ports: dict[str, int] = field(default_factory=dict)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def settings(self) -> Settings:
        return Settings.from_env(self.env)

    @property
    def sessions(self) -> sessionmaker[Session]:
        if self.engine is None:
            self.engine = make_engine(self.settings.database_url)
        return session_factory(self.engine)

    # processes -------------------------------------------------------------------------
    def run(
        self, process_type: str, *, name: str | None = None, **env: str
    ) -> subprocess.Popen[bytes]:
        """Start one Procfile process type in its own process group, logging to workdir.

        `env` overrides this stack's environment for that process only (a second web
        process on another PORT, say).
        """
        name = name or process_type
        process_env = {**self.env, **env}
        if process_type == "worker":
            self.metrics_ports[name] = free_port()
            process_env["HOOKRELAY_WORKER_METRICS_PORT"] = str(self.metrics_ports[name])
        with open(self.workdir / f"{name}.log", "ab") as log:  # the child keeps its own copy
            proc = subprocess.Popen(
                ["sh", "-c", procfile(self.procfile_path)[process_type]],
                cwd=ROOT,
                env=process_env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.procs[name] = proc
        return proc

    def kill(self, name: str, sig: int = signal.SIGTERM) -> None:
        proc = self.procs.pop(name)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)
        proc.wait(timeout=30)

    def log(self, name: str) -> str:
        return (self.workdir / f"{name}.log").read_text(errors="replace")

    def wait_worker_ready(self, name: str = "worker", timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if " ready." in self.log(name):
                return
            if self.procs[name].poll() is not None:
                raise RuntimeError(f"{name} exited:\n{self.log(name)[-3000:]}")
            time.sleep(0.1)
        raise RuntimeError(f"{name} not ready:\n{self.log(name)[-3000:]}")

    def wait_web_ready(self, timeout: float = 30, name: str = "web", port: int = 0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", port or self.port), timeout=1):
                    return
            except OSError:
                if self.procs[name].poll() is not None:
                    raise RuntimeError(f"{name} exited:\n{self.log(name)[-3000:]}") from None
                time.sleep(0.1)
        raise RuntimeError("web not listening")

    def start(self, workers: int = 2) -> Stack:
        """Run `release`, then web, `workers` worker processes and the scheduler (if any)."""
        processes = procfile(self.procfile_path)
        release = subprocess.run(
            ["sh", "-c", processes["release"]], cwd=ROOT, env=self.env, capture_output=True
        )
        if release.returncode != 0:
            raise RuntimeError(f"release failed: {release.stderr.decode()[-3000:]}")
        self.run("web")
        if "scheduler" in processes:
            self.run("scheduler")
        # The first worker declares the queue alone: on the SQLAlchemy transport two workers
        # declaring it at once both insert its row, and one exits on the unique constraint.
        names = [f"worker-{n}" if n > 1 else "worker" for n in range(1, workers + 1)]
        if names:
            self.run("worker")
            self.wait_worker_ready("worker")
        for name in names[1:]:
            self.run("worker", name=name)
        self.wait_web_ready()
        for name in names:
            self.wait_worker_ready(name)
        return self

    def stop(self) -> None:
        for name in list(self.procs):
            self.kill(name, signal.SIGKILL)
        if self.engine is not None:
            self.engine.dispose()
        broker = self.env.get("BROKER_URL", "")
        if broker.startswith(("redis", "amqp")):
            delete_queue(broker, self.env["HOOKRELAY_QUEUE"])
            delete_queue(broker, self.settings.retry_queue_name)
        if self.pg_database:
            with psycopg.connect(libpq_url(PG_ADMIN_URL), autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{self.pg_database}" WITH (FORCE)')

    # data ------------------------------------------------------------------------------
    def tenant(self) -> Tenant:
        with self.sessions.begin() as session:
            created = create_workspace(session, "test", "us")
        return Tenant(
            created.workspace_id,
            created.environment_id,
            created.api_key,
            created.management_token,
        )

    def endpoint(self, tenant: Tenant, url: str, **kwargs: Any) -> dict[str, Any]:
        with self.sessions.begin() as session:
            endpoint = create_endpoint(
                session, tenant.workspace_id, url, allow_private=True, **kwargs
            )
            return EndpointOut.from_row(endpoint).body()

    def management(
        self, tenant: Tenant, method: str, path: str, body: Any = None
    ) -> requests.Response:
        """Call `/management/v1/workspaces/{path}` with the tenant's management token."""
        return requests.request(
            method,
            f"{self.base_url}/management/v1/workspaces/{path}",
            json=body,
            timeout=10,
            headers={"Authorization": f"Bearer {tenant.management_token}"},
        )

    def delivery(self, delivery_id: str) -> Delivery:
        with self.sessions() as session:
            found = session.get(Delivery, delivery_id)
            assert found is not None, delivery_id
            return found

    def attempts(self, delivery_id: str) -> list[Attempt]:
        with self.sessions() as session:
            return list(
                session.scalars(
                    select(Attempt)
                    .where(Attempt.delivery_id == delivery_id)
                    .order_by(Attempt.attempt_number)
                )
            )

    def endpoint_row(self, endpoint_id: str) -> Endpoint:
        with self.sessions() as session:
            found = session.get(Endpoint, endpoint_id)
            assert found is not None
            return found

    def wait_final(self, delivery_id: str, timeout: float = 30) -> Delivery:
        deadline = time.monotonic() + timeout
        while True:
            delivery = self.delivery(delivery_id)
            if delivery.status in FINAL or time.monotonic() > deadline:
                return delivery
            time.sleep(0.1)


def delete_queue(broker: str, queue: str) -> None:
    """Drop a queue the run made; a failure is ignored (a stale queue is harmless), and a
    broker that is gone (a fault test's, stopped first) is not waited for: kombu would
    retry the connection for seconds.

    On Redis kombu deletes only the bindings declared through the same connection, and the
    stack's processes declared this one in theirs: it is declared here first (as hookrelay
    declares its queues, `app.queue.config`), so the list and its binding both go.
    """
    from kombu import Connection, Exchange, Queue

    try:
        with Connection(broker, connect_timeout=3) as conn:
            if not reachable(conn.port or 0, conn.hostname or "127.0.0.1"):
                return
            channel = conn.default_channel
            if conn.transport.driver_type == "redis":
                Queue(queue, Exchange(queue), routing_key=queue)(channel).declare()
            channel.queue_delete(queue)
    except Exception:  # cleanup only; a stale test queue is harmless
        pass


def build(
    name: str,
    workdir: Path,
    *,
    database_url: str | None = None,
    broker_url: str | None = None,
    **overrides: str,
) -> Stack:
    """Prepare (not start) a stack for backend `name` with fast test timings.

    `database_url` and `broker_url` point a PostgreSQL backend at private servers (fault
    tests); by default it gets a new database on the shared server and the shared broker.
    """
    _needs, broker = BACKENDS[name]
    broker = broker_url or broker
    workdir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}",
        "PORT": str(port),
        "HOOKRELAY_DATA_DIR": str(workdir),
        "HOOKRELAY_QUEUE": f"hookrelay-test-{uuid.uuid4().hex[:8]}",
        "HOOKRELAY_RETRY_SCHEDULE": "1,1,1",
        "HOOKRELAY_ALLOW_PRIVATE_DESTINATIONS": "true",
        "HOOKRELAY_DELIVERY_TIMEOUT": "2",
        "HOOKRELAY_LEASE_SECONDS": "5",
        "HOOKRELAY_REQUEUE_AFTER": "3",
        "HOOKRELAY_SCHEDULER_INTERVAL": "0.2",
        "HOOKRELAY_INGEST_TIMEOUT": "2",
        "HOOKRELAY_SECRET_KEY": f"test-{uuid.uuid4().hex}",
        "HOOKRELAY_PUBLIC_URL": f"http://127.0.0.1:{port}",
        "WEB_CONCURRENCY": "2",
        "WORKER_CONCURRENCY": "8",
        # A breaker that opens and cools down within a test; the cap stays above the
        # 2 x 8 worker threads, so only the tests that set one per endpoint meet it.
        "HOOKRELAY_CIRCUIT_FAILURES": "5",
        "HOOKRELAY_CIRCUIT_COOLDOWN": "1",
        "HOOKRELAY_CIRCUIT_COOLDOWN_MAX": "4",
        "HOOKRELAY_ENDPOINT_MAX_IN_FLIGHT": "32",
        **overrides,
    }
    for key in ("DATABASE_URL", "BROKER_URL"):
        env.pop(key, None)
    pg_database = None
    if broker is not None:
        if database_url is None:
            pg_database = f"hookrelay_test_{uuid.uuid4().hex[:10]}"
            with psycopg.connect(libpq_url(PG_ADMIN_URL), autocommit=True) as conn:
                conn.execute(f'CREATE DATABASE "{pg_database}"')
            database_url = PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{pg_database}"
        env["DATABASE_URL"] = database_url
        env["BROKER_URL"] = broker
    return Stack(name, workdir, env, port, pg_database)
