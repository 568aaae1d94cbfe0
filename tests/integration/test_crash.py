"""A worker killed with SIGKILL mid-run loses nothing: every delivery arrives at least once."""

from __future__ import annotations

import signal
import time
import uuid
from collections.abc import Callable

import pytest
import requests

from tests.support.receiver import Receiver
from tests.support.stack import BACKENDS, Stack

pytestmark = pytest.mark.integration
TOTAL = 60


@pytest.mark.parametrize("backend", list(BACKENDS))
def test_sigkilled_worker_loses_no_delivery(
    backend: str, fresh_stack: Callable[..., Stack], receiver: Receiver
) -> None:
    stack = fresh_stack(backend).start(workers=1)
    tenant = stack.tenant()
    name = uuid.uuid4().hex[:12]
    endpoint = stack.endpoint(tenant, receiver.url(name, sleep=0.2))
    ids: list[str] = []
    for batch in range(TOTAL // 20):
        response = requests.post(
            f"{stack.base_url}/api/ingest/batch",
            timeout=10,
            headers={"Authorization": f"Bearer {tenant.api_key}"},
            json={
                "items": [
                    {"endpointId": endpoint["id"], "payload": {"n": batch * 20 + i}}
                    for i in range(20)
                ]
            },
        )
        assert response.status_code == 202
        ids += [item["deliveryId"] for item in response.json()["items"]]

    receiver.wait_for(name, 10)
    stack.kill("worker", signal.SIGKILL)
    killed_at = len(receiver.received(name))
    assert killed_at < TOTAL, "the worker finished before it could be killed"
    stack.run("worker", name="worker2")

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if {r.headers["webhook-id"] for r in receiver.received(name)} >= set(ids):
            break
        time.sleep(0.2)
    seen = {r.headers["webhook-id"] for r in receiver.received(name)}
    assert seen == set(ids), f"{len(set(ids) - seen)} deliveries never arrived"
    for delivery_id in ids:
        assert stack.wait_final(delivery_id, timeout=15).status == "delivered", delivery_id
