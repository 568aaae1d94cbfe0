"""The README's snippets, run as written against a started embedded stack, in README order.

The only change made to them is the ports: the stack and the receiver get free ones instead
of 8000 and 9000, so the test can run next to a developer's `./scripts/start`.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.firstrun import bootstrap_as_start_does, checkout, user_env
from tests.support.stack import ROOT, Stack, build, free_port

pytestmark = pytest.mark.integration

README = (ROOT / "README.md").read_text()
BLOCK = re.compile(r"^```(bash|python)\n(.*?)^```", re.MULTILINE | re.DOTALL)
MARK = "@@ snippet {} @@"
RECEIVED = re.compile(r"del_\w+ (signature|unverified)")
# The embedded default's own timings, not the test stacks' fast ones: what a user sees.
AS_SHIPPED = {
    "HOOKRELAY_RETRY_SCHEDULE": "5,300,1800,7200,18000,36000,36000",
    "HOOKRELAY_DELIVERY_TIMEOUT": "15",
    "HOOKRELAY_LEASE_SECONDS": "60",
    "HOOKRELAY_REQUEUE_AFTER": "60",
    "HOOKRELAY_SCHEDULER_INTERVAL": "1",
}


def snippets() -> list[tuple[str, str]]:
    """Every bash and python block, except the one that starts the stack and the test suite,
    and the container quick start, which needs a container engine (`scripts/test-image` runs
    the image it builds with podman)."""
    return [
        (kind, code)
        for kind, code in BLOCK.findall(README)
        if "./scripts/" not in code and "docker compose" not in code
    ]


def as_script(blocks: list[tuple[str, str]], port: int, receiver_port: int) -> str:
    """One bash script running the blocks in order; python blocks go through the venv's python."""
    parts = ["set -eo pipefail"]
    for n, (kind, code) in enumerate(blocks):
        parts.append(f"echo; echo '{MARK.format(n)}'")  # the last command may end mid-line
        parts.append(code if kind == "bash" else f"python - <<'PYTHON'\n{code}PYTHON")
    script = "\n".join(parts) + f"\necho; echo '{MARK.format('end')}'\n"
    return script.replace("8000", str(port)).replace("9000", str(receiver_port))


@dataclass
class Run:
    output: Path
    returncode: int

    def text(self) -> str:
        return self.output.read_text(errors="replace")

    def snippet(self, n: int) -> str:
        """What snippet `n` printed (the receiver's lines may be mixed in)."""
        after = self.text().split(MARK.format(n) + "\n", 1)[1]
        return re.split(r"\n@@ snippet \S+ @@\n", after, maxsplit=1)[0]

    def received(self) -> list[str]:
        """The receiver's lines: `<webhook-id> <verdict>: <body>`."""
        return [line for line in self.text().splitlines() if RECEIVED.match(line)]

    def wait_received(self, count: int, timeout: float = 30) -> list[str]:
        deadline = time.monotonic() + timeout
        while len(self.received()) < count and time.monotonic() < deadline:
            time.sleep(0.2)
        return self.received()


@pytest.fixture(scope="module")
def readme_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Run]:
    workdir = tmp_path_factory.mktemp("readme")
    stack: Stack = build("sqlite", workdir / "var", **AS_SHIPPED)
    try:
        stack.start(workers=1)
        home = checkout(workdir / "checkout", stack.workdir)
        created = bootstrap_as_start_does(home)
        assert created.returncode == 0, created.stderr
        script = as_script(snippets(), stack.port, free_port())
        output = workdir / "output.txt"
        with open(output, "w") as out:
            shell = subprocess.Popen(
                ["bash", "-c", script],
                cwd=home,
                env=user_env(),
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # the receiver the quick start leaves running, too
            )
        try:
            run = Run(output, shell.wait(timeout=180))
            run.wait_received(9)  # 1 + 4 from the SDK + 1 fan-out, and some slack below
            yield run
        finally:
            os.killpg(shell.pid, signal.SIGTERM)
    finally:
        stack.stop()


def test_every_snippet_runs_to_the_end(readme_run: Run) -> None:
    assert readme_run.returncode == 0, readme_run.text()[-3000:]
    assert MARK.format("end") in readme_run.text()


def test_the_quick_start_ends_with_a_delivered_webhook_whose_signature_verified(
    readme_run: Run,
) -> None:
    last = readme_run.snippet(0).strip().splitlines()[-1]
    delivery = json.loads(last)
    assert delivery["status"] == "delivered", delivery
    assert [a["status"] for a in delivery["attempts"]] == ["succeeded"]
    [line] = [r for r in readme_run.received() if r.startswith(delivery["id"])]
    verdict, body = line.split(": ", 1)
    assert verdict == f"{delivery['id']} signature verified"
    assert json.loads(body) == {"hello": "world"}


def test_every_delivery_the_snippets_cause_verifies(readme_run: Run) -> None:
    received = readme_run.wait_received(7)
    bodies = [json.loads(line.split(": ", 1)[1]) for line in received]
    assert all(" signature verified: " in line for line in received), received
    for sent in ({"hello": "sdk"}, {"n": 0}, {"n": 1}, {"n": 2}, {"orderId": 42}):
        assert sent in bodies


def test_the_sdk_and_cli_snippets_print_what_the_readme_says(readme_run: Run) -> None:
    sdk = readme_run.snippet(1).splitlines()
    cli = [json.loads(line) for line in readme_run.snippet(2).splitlines() if line.startswith("{")]

    assert sum(line.count("'deliveryId': 'del_") for line in sdk) == 4  # a send, a batch of 3
    assert set(cli[0]) == {"workspaceId", "environmentId", "apiKey", "managementToken"}
    assert cli[1]["url"] == "https://example.com/hook" and cli[1]["id"].startswith("ep_")


def test_the_rest_batch_answers_as_its_comment_shows(readme_run: Run) -> None:
    [(_kind, code)] = [(k, c) for k, c in snippets() if "/batch" in c]
    comment = " ".join(line for line in code.splitlines() if line.startswith("#"))
    documented = [(int(n), int(s)) for n, s in re.findall(r"\[(\d+), (\d+), ", comment)]
    printed = [line for line in readme_run.snippet(3).splitlines() if line.startswith("[")]
    answers = json.loads(printed[0])

    assert [(n, status) for n, status, _body in answers] == documented
    assert answers[4][2] == "Could not find route GET /non/existing/endpoint"


def test_readme_names_only_files_that_exist() -> None:
    named = set(re.findall(r"\]\(((?!https?:)[^)#]+)\)", README))  # relative links
    named |= set(re.findall(r"`([\w./-]+\.md)`", README))  # documents named in code style
    missing = sorted(n for n in named if not (ROOT / n).exists())
    assert "docs/api.md" in named
    assert missing == []


def test_the_benchmark_paragraph_says_what_it_needs_and_how_long_it_takes() -> None:
    paragraph = README.split("### Performance and scaling", 1)[1].split("\n\n", 2)[1]
    services = (ROOT / "tests/support/services.py").read_text()
    for variable in re.findall(r'_URL = os\.environ\.get\("(HOOKRELAY_TEST_\w+)"', services):
        assert f"`{variable}`" in paragraph
    assert "'.[test,bench]'" in paragraph
    assert re.search(r"\d+ minutes", paragraph)
