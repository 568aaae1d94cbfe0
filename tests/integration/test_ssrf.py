"""Private destinations are refused by default: when an endpoint is saved, and again at send
time on the address actually connected to (DNS can change in between)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
import requests

from tests.support.receiver import Receiver
from tests.support.stack import Stack, Tenant, build

pytestmark = pytest.mark.integration

FORBIDDEN = [
    "http://127.0.0.1/hook",
    "http://localhost:8080/hook",
    "http://10.0.0.5/hook",
    "http://172.16.3.4/hook",
    "http://192.168.1.1/hook",
    "http://169.254.169.254/latest",
    "http://100.64.0.1/hook",
    "http://[::1]/hook",
    "http://[fd00::1]/hook",
    "http://[fe80::1]/hook",
    "http://[::ffff:127.0.0.1]/hook",
    "http://0.0.0.0/hook",
]


@pytest.fixture(scope="module")
def guarded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Stack, Tenant]]:
    """A stack with the default: private destinations not allowed."""
    running = build(
        "sqlite", tmp_path_factory.mktemp("ssrf"), HOOKRELAY_ALLOW_PRIVATE_DESTINATIONS="false"
    )
    try:
        running.start(workers=1)
        yield running, running.tenant()
    finally:
        running.stop()


@pytest.mark.parametrize("url", FORBIDDEN)
def test_private_urls_are_refused_when_an_endpoint_is_created(
    guarded: tuple[Stack, Tenant], url: str
) -> None:
    stack, tenant = guarded
    response = stack.management(tenant, "POST", f"{tenant.workspace_id}/endpoints", {"url": url})
    assert response.status_code == 400, url
    assert response.json()["error"]["code"] == "invalid_request"


def test_private_urls_are_refused_when_an_endpoint_is_changed(
    guarded: tuple[Stack, Tenant],
) -> None:
    stack, tenant = guarded
    created = stack.management(
        tenant, "POST", f"{tenant.workspace_id}/endpoints", {"url": "https://example.com/x"}
    )
    assert created.status_code == 201
    path = f"{tenant.workspace_id}/endpoints/{created.json()['id']}"
    changed = stack.management(tenant, "PATCH", path, {"url": "http://169.254.169.254/"})
    assert changed.status_code == 400
    assert stack.management(tenant, "GET", path, None).json()["url"] == "https://example.com/x"


def test_endpoint_that_now_resolves_to_loopback_is_refused_at_send_time(
    guarded: tuple[Stack, Tenant], receiver: Receiver
) -> None:
    stack, tenant = guarded
    name = uuid.uuid4().hex[:12]
    # Stored without the creation-time check, as if its DNS name changed after it was vetted.
    endpoint = stack.endpoint(tenant, receiver.url(name).replace("127.0.0.1", "localhost"))
    response = requests.post(
        f"{stack.base_url}/api/ingest/{endpoint['id']}",
        json={"payload": {}},
        timeout=10,
        headers={"Authorization": f"Bearer {tenant.api_key}"},
    )

    delivery = stack.wait_final(response.json()["deliveryId"])
    assert delivery.status == "failed"  # refused for good, not retried
    [attempt] = stack.attempts(delivery.id)
    assert attempt.error_message and attempt.error_message.startswith("destination refused")
    assert receiver.received(name) == []
