"""The image's entry point runs each Procfile line as the Procfile writes it (`exec ...`)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.support.stack import ROOT, procfile


@pytest.mark.parametrize("kind", ["web", "worker", "scheduler", "release"])
def test_each_procfile_type_runs_its_line(tmp_path: Path, kind: str) -> None:
    # The real entry point, pointed at a Procfile of the same shape whose lines only print.
    entry = (ROOT / "scripts/container").read_text().replace("cd /app", f"cd {tmp_path}")
    (tmp_path / "container").write_text(entry)
    shape = {name: line.split(" ", 1)[0] for name, line in procfile().items()}
    lines = [
        f"{name}: {'exec ' if first == 'exec' else ''}echo ran {name}"
        for name, first in shape.items()
    ]
    (tmp_path / "Procfile").write_text("\n".join(lines) + "\n")

    ran = subprocess.run(["sh", "container", kind], cwd=tmp_path, capture_output=True, text=True)

    assert (ran.returncode, ran.stdout.strip()) == (0, f"ran {kind}"), ran.stderr
