"""Health checks, Prometheus metrics (web and worker), the worker health command, JSON logs."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import uuid
from collections.abc import Callable

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from tests.support.receiver import Receiver
from tests.support.stack import ROOT, Stack

pytestmark = pytest.mark.integration

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def scrape(url: str) -> Samples:
    text = requests.get(url, timeout=10).text
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def total(samples: Samples, name: str, **labels: str) -> float:
    wanted = set(labels.items())
    return sum(v for (n, lbl), v in samples.items() if n == name and wanted <= set(lbl))


def workers(stack: Stack) -> Callable[[], Samples]:
    def read() -> Samples:
        merged: Samples = {}
        for name, port in stack.metrics_ports.items():
            for (metric, labels), value in scrape(f"http://127.0.0.1:{port}/metrics").items():
                merged[(metric, (*labels, ("process", name)))] = value
        return merged

    return read


def send(stack: Stack, api_key: str, endpoint_id: str) -> str:
    response = requests.post(
        f"{stack.base_url}/api/ingest/{endpoint_id}",
        headers={"Authorization": f"Bearer {api_key}"},
        json={"payload": {"n": 1}},
        timeout=10,
    )
    assert response.status_code == 202, response.text
    return str(response.json()["deliveryId"])


def test_health_and_readiness(stack: Stack) -> None:
    assert requests.get(f"{stack.base_url}/healthz", timeout=10).json() == {"status": "ok"}
    ready = requests.get(f"{stack.base_url}/readyz", timeout=10)
    assert ready.status_code == 200, ready.text
    assert ready.json()["checks"] == {"database": "ok", "broker": "ok"}


def test_metrics_move_with_deliveries(stack: Stack, receiver: Receiver) -> None:
    tenant = stack.tenant()
    name = uuid.uuid4().hex[:12]
    endpoint = stack.endpoint(tenant, receiver.url(name, fail=1))
    web_before, worker_before = scrape(f"{stack.base_url}/metrics"), workers(stack)()

    ids = [send(stack, tenant.api_key, endpoint["id"]) for _ in range(2)]
    for delivery_id in ids:
        assert stack.wait_final(delivery_id).status == "delivered"

    web = scrape(f"{stack.base_url}/metrics")
    accepted = "hookrelay_deliveries_accepted_total"
    assert total(web, accepted) - total(web_before, accepted) >= 2
    route = {"route": "/api/ingest/<endpoint_id>", "status": "202"}
    requests_total = "hookrelay_ingest_requests_total"
    assert total(web, requests_total, **route) - total(web_before, requests_total, **route) >= 2
    assert ("hookrelay_queue_lag_seconds", ()) in web

    # A worker counts an attempt just after its record commits, so the API can show a
    # delivery as delivered a moment before the worker's counters move: wait for them.
    latency = "hookrelay_delivery_latency_seconds"
    wanted = [
        ("hookrelay_delivery_attempts_total", {"outcome": "succeeded"}, 2),
        ("hookrelay_delivery_attempts_total", {"outcome": "failed"}, 1),
        (f"{latency}_count", {}, 2),
        (f"{latency}_bucket", {"le": "+Inf"}, 2),
    ]

    def short(after: Samples) -> list[str]:
        """The wanted counters that have not moved far enough yet, with how far they moved."""
        return [
            f"{name}{labels} moved {moved}, want {least}"
            for name, labels, least in wanted
            if (moved := total(after, name, **labels) - total(worker_before, name, **labels))
            < least
        ]

    deadline = time.monotonic() + 10
    while missing := short(workers(stack)()):
        if time.monotonic() > deadline:
            logs = {name: stack.log(name)[-2000:] for name in stack.metrics_ports}
            pytest.fail(f"worker counters: {missing}; logs: {logs}")
        time.sleep(0.2)


def test_worker_health_command(stack: Stack) -> None:
    def check(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "tasks.health", *args],
            cwd=ROOT,
            env=stack.env,
            capture_output=True,
            text=True,
            timeout=30,
        )

    deadline = time.monotonic() + 20
    while (result := check()).returncode != 0 and time.monotonic() < deadline:
        time.sleep(0.5)  # the first heartbeat follows the worker's readiness
    assert result.returncode == 0, result.stdout + result.stderr
    assert "worker-" in result.stdout
    assert check("--node", "nobody@nowhere").returncode == 1


def test_delivery_log_lines_are_json_with_their_ids(stack: Stack, receiver: Receiver) -> None:
    tenant = stack.tenant()
    endpoint = stack.endpoint(tenant, receiver.url(uuid.uuid4().hex[:12]))
    delivery_id = send(stack, tenant.api_key, endpoint["id"])
    assert stack.wait_final(delivery_id).status == "delivered"

    def lines_of(process: str) -> list[dict[str, str]]:
        logs = "".join(stack.log(p) for p in stack.procs if p.startswith(process))
        return [json.loads(line) for line in logs.splitlines() if delivery_id in line]

    deadline = time.monotonic() + 10  # the worker logs just after recording
    while not lines_of("worker") and time.monotonic() < deadline:
        time.sleep(0.2)
    for process in ("web", "worker"):
        lines = lines_of(process)
        assert lines, process
        for line in lines:
            assert line["delivery_id"] == delivery_id
            assert line["workspace_id"] == tenant.workspace_id
            assert {"time", "level", "logger", "message"} <= set(line)
