"""A user's first run, as the README describes it: a checkout whose `var/` is a stack's data
directory, and the credentials file `./scripts/start` writes there."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

from tests.support.stack import ROOT

# What the stack's processes are given that a user's shell does not have.
STACK_ONLY = ("DATABASE_URL", "BROKER_URL", "HOOKRELAY_DATA_DIR", "PORT", "HOOKRELAY_QUEUE")


def checkout(at: Path, data_dir: Path) -> Path:
    """A directory that looks like the checkout to a user's commands: venv, scripts, var/."""
    at.mkdir(parents=True, exist_ok=True)
    (at / ".venv").symlink_to(Path(sys.prefix))
    (at / "scripts").symlink_to(ROOT / "scripts")
    (at / "var").symlink_to(data_dir)
    return at


def user_env(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """This process's environment as a user's shell would have it, with the venv on PATH."""
    env = {k: v for k, v in (environ or os.environ).items() if k not in STACK_ONLY}
    env["PATH"] = f"{Path(sys.executable).parent}:{env.get('PATH', '')}"
    return env


def bootstrap_as_start_does(cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run the very line of `scripts/start` that writes `var/credentials.json`, in `cwd`."""
    script = (ROOT / "scripts/start").read_text().splitlines()
    [line] = [text for text in script if " bootstrap " in text]
    return subprocess.run(
        ["sh", "-c", f"umask 022; {line.strip()}"],
        cwd=cwd,
        env=user_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
