"""Private destinations are refused again at delivery time, on the address connected to."""

from __future__ import annotations

import uuid
from collections.abc import Callable

import pytest
import requests

from tests.support.receiver import Receiver
from tests.support.stack import Stack

pytestmark = pytest.mark.integration


def test_endpoint_that_now_resolves_to_loopback_is_refused_at_send_time(
    fresh_stack: Callable[..., Stack], receiver: Receiver
) -> None:
    stack = fresh_stack("sqlite", HOOKRELAY_ALLOW_PRIVATE_DESTINATIONS="false").start(workers=1)
    tenant = stack.tenant()
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
