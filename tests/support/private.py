"""Private, throwaway instances of PostgreSQL, Redis and RabbitMQ for fault tests.

A fault test stops and restarts its database or broker; doing that to the machine's shared
services would break every other test running beside it. These are the same server binaries,
started on free ports with their data under the test's temporary directory.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.support.services import reachable, required
from tests.support.stack import free_port


def _binary(name: str, *candidates: str) -> str:
    for candidate in (shutil.which(name), *candidates):
        if candidate and Path(candidate).exists():
            return candidate
    message = f"{name} is not installed"
    if required():
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


def _wait(port: int, up: bool, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if reachable(port) == up:
            return
        time.sleep(0.1)
    raise RuntimeError(f"port {port} did not become {'reachable' if up else 'free'}")


@dataclass
class PrivateRedis:
    workdir: Path
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> PrivateRedis:
        binary = _binary("redis-server", "/usr/bin/redis-server")
        self.workdir.mkdir(parents=True, exist_ok=True)
        with open(self.workdir / "redis.log", "ab") as log:
            self.proc = subprocess.Popen(
                [
                    binary,
                    "--port",
                    str(self.port),
                    "--bind",
                    "127.0.0.1",
                    "--save",
                    "",
                    "--appendonly",
                    "no",
                    "--dir",
                    str(self.workdir),
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        _wait(self.port, up=True)
        return self

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(timeout=30)
            self.proc = None
        _wait(self.port, up=False)


def _service_dir(prefix: str, owner: str) -> Path:
    """A directory under /tmp the service's own user can enter (pytest's tmp is root-only)."""
    path = Path(tempfile.mkdtemp(prefix=prefix))
    if os.geteuid() == 0:
        shutil.chown(path, owner)
    return path


@dataclass
class PrivateRabbit:
    """Debian's rabbitmq-server drops to the rabbitmq user, so it gets its own /tmp dir."""

    workdir: Path = field(default_factory=lambda: _service_dir("hookrelay-mq-", "rabbitmq"))
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None

    @property
    def node(self) -> str:
        return f"hookrelay{self.port}@localhost"

    @property
    def url(self) -> str:
        return f"amqp://guest:guest@127.0.0.1:{self.port}//"

    def _env(self) -> dict[str, str]:
        (self.workdir / "enabled_plugins").write_text("[].\n")
        return {
            **os.environ,
            "RABBITMQ_NODENAME": self.node,
            "RABBITMQ_NODE_PORT": str(self.port),
            "RABBITMQ_DIST_PORT": str(free_port()),
            "RABBITMQ_MNESIA_BASE": str(self.workdir / "mnesia"),
            "RABBITMQ_LOG_BASE": str(self.workdir / "log"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(self.workdir / "enabled_plugins"),
            "RABBITMQ_CONFIG_FILE": str(self.workdir / "rabbitmq"),
            "ERL_CRASH_DUMP": str(self.workdir / "erl_crash.dump"),
        }

    def start(self) -> PrivateRabbit:
        binary = _binary("rabbitmq-server", "/usr/sbin/rabbitmq-server")
        (self.workdir / "rabbitmq.conf").write_text("loopback_users = none\n")
        with open(self.workdir / "rabbit.out", "ab") as log:
            self.proc = subprocess.Popen(
                [binary],
                env=self._env(),
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        _wait(self.port, up=True, timeout=90)
        return self

    def stop(self) -> None:
        """Shut the node down cleanly (durable queues and persistent messages survive)."""
        if self.proc is not None:
            subprocess.run(
                [_binary("rabbitmqctl", "/usr/sbin/rabbitmqctl"), "-n", self.node, "shutdown"],
                env=self._env(),
                capture_output=True,
                timeout=120,
            )
            self.proc.wait(timeout=60)
            self.proc = None
        _wait(self.port, up=False)

    def remove(self) -> None:
        if self.proc is not None:
            self.stop()
        shutil.rmtree(self.workdir, ignore_errors=True)


@dataclass
class PrivatePostgres:
    """Lives in its own directory under /tmp: the postgres user cannot enter pytest's."""

    workdir: Path = field(default_factory=lambda: _service_dir("hookrelay-pg-", "postgres"))
    port: int = field(default_factory=free_port)

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _as_postgres(self, *args: str) -> None:
        command = [*args]
        if os.geteuid() == 0:  # initdb and postgres refuse to run as root
            command = ["runuser", "-u", "postgres", "--", *args]
        subprocess.run(command, check=True, capture_output=True, timeout=120)

    def _bin(self, name: str) -> str:
        found = sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"))
        return _binary(name, *(str(p) for p in found))

    def start(self) -> PrivatePostgres:
        data = self.workdir / "data"
        if not data.exists():
            self._as_postgres(self._bin("initdb"), "-D", str(data), "-A", "trust", "-U", "postgres")
        self._as_postgres(
            self._bin("pg_ctl"),
            "-D",
            str(data),
            "-l",
            str(self.workdir / "pg.log"),
            "-w",
            "-o",
            f"-p {self.port} -k {self.workdir} -c listen_addresses=127.0.0.1",
            "start",
        )
        _wait(self.port, up=True)
        return self

    def stop(self) -> None:
        self._as_postgres(
            self._bin("pg_ctl"), "-D", str(self.workdir / "data"), "-m", "fast", "-w", "stop"
        )
        _wait(self.port, up=False)

    def remove(self) -> None:
        if reachable(self.port):
            self.stop()
        shutil.rmtree(self.workdir, ignore_errors=True)
