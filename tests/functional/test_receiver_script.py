"""scripts/receiver.py, the receiver of the quick start, run as a user runs it."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

import pytest
import requests
from standardwebhooks import Webhook

from tests.support.stack import ROOT, free_port

SECRETS = [
    "whsec_" + "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
    "whsec_" + "c2Vjb25kLXNlY3JldC1mb3ItdGhlLXRlc3Q=",
    "whsec_" + "dGhpcmQtc2VjcmV0LWluLWEtZmlsZS0tLQ==",
]


@pytest.fixture
def receiver(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    port, out = free_port(), tmp_path / "receiver.out"
    (tmp_path / "secrets").write_text(SECRETS[2] + "\n")
    args = ["--secret", SECRETS[0], "--secret", SECRETS[1], "--secrets-file", "secrets"]
    with open(out, "w") as stdout:
        proc = subprocess.Popen(
            [sys.executable, str(ROOT / "scripts/receiver.py"), str(port), *args],
            cwd=tmp_path,
            stdout=stdout,
            stderr=subprocess.STDOUT,
        )
    deadline = time.monotonic() + 10
    while "receiving on" not in out.read_text() and time.monotonic() < deadline:
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}/", out
    proc.terminate()
    proc.wait(timeout=10)


def _post(url: str, n: int, secret: str) -> int:
    body = json.dumps({"n": n, "padding": "x" * 20_000})
    msg_id = f"msg_{n}"
    now = datetime.now(UTC)
    signature = Webhook(secret).sign(msg_id, now, body)
    headers = {
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": signature,
        "Content-Type": "application/json",
    }
    return requests.post(url, data=body, headers=headers, timeout=10).status_code


def test_concurrent_deliveries_of_several_endpoints_print_whole_verified_lines(
    receiver: tuple[str, Path],
) -> None:
    url, out = receiver
    count = 90
    with ThreadPoolExecutor(max_workers=15) as pool:
        statuses = list(pool.map(lambda n: _post(url, n, SECRETS[n % 3]), range(count)))
    deadline = time.monotonic() + 10  # the last lines may still be on their way to the file
    while len(lines := out.read_text().splitlines()[1:]) < count and time.monotonic() < deadline:
        time.sleep(0.05)

    assert statuses == [200] * count
    assert len(lines) == count
    seen = set()
    for line in lines:
        head, _, body = line.partition(": ")
        msg_id, verdict = head.split(" ", 1)
        assert verdict == "signature verified", line[:200]
        assert json.loads(body)["n"] == int(msg_id.removeprefix("msg_"))
        seen.add(msg_id)
    assert len(seen) == count


def test_a_delivery_signed_with_an_unknown_secret_is_invalid(receiver: tuple[str, Path]) -> None:
    url, out = receiver
    assert _post(url, 1, "whsec_" + "dW5rbm93bi1zZWNyZXQtLS0tLS0tLS0tLS0=") == 200
    time.sleep(0.3)
    assert "signature INVALID" in out.read_text().splitlines()[-1]
