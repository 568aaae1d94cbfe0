"""Worker liveness: the worker writes a heartbeat file; `python -m tasks.health` checks it.

The heartbeat is written by a thread of the worker process only while the worker's database
answers, so a hung or disconnected worker goes stale. Usable as a container health check:
exit status 0 when a heartbeat (of `--node`, or of any worker on this host) is fresh.
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

from app.config import Settings

INTERVAL = 5.0


def heartbeat_dir(settings: Settings) -> Path:
    return settings.data_dir / "heartbeats"


class Heartbeat:
    """Touches `<data dir>/heartbeats/<node>` every few seconds while `check` passes."""

    def __init__(self, path: Path, check: Callable[[], None]) -> None:
        self.path = path
        self._check = check
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._beat, name="hookrelay-heartbeat", daemon=True)

    def start(self) -> Heartbeat:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop beating and remove the file: a worker that stopped cleanly is not alive."""
        self._stopped.set()
        self._thread.join(timeout=INTERVAL)
        self.path.unlink(missing_ok=True)

    def _beat(self) -> None:
        while not self._stopped.is_set():
            try:
                self._check()
                self.path.write_text(str(time.time()))
            except Exception:  # stale heartbeat is the signal; the health check reports it
                pass
            self._stopped.wait(INTERVAL)


def start_heartbeat(settings: Settings, node: str, check: Callable[[], None]) -> Heartbeat:
    """Start the worker's heartbeat; `stop()` it when the worker stops."""
    return Heartbeat(heartbeat_dir(settings) / node, check).start()


def fresh(settings: Settings, node: str | None, max_age: float, now: float) -> list[str]:
    """Names of the heartbeats younger than `max_age` seconds."""
    directory = heartbeat_dir(settings)
    paths = [directory / node] if node else sorted(directory.glob("*"))
    return [p.name for p in paths if p.is_file() and now - p.stat().st_mtime <= max_age]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Exit 0 if a hookrelay worker is alive.")
    parser.add_argument("--node", help="worker node name (worker-<pid>@<host>); default: any")
    parser.add_argument("--max-age", type=float, default=30.0, help="seconds (default 30)")
    args = parser.parse_args(argv)
    alive = fresh(Settings.from_env(), args.node, args.max_age, time.time())
    print(f"alive: {', '.join(alive)}" if alive else "no live worker heartbeat", flush=True)
    return 0 if alive else 1


if __name__ == "__main__":
    sys.exit(main())
