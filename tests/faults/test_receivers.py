"""Hostile receivers: each attempt ends within the timeout and stores a bounded excerpt."""

from __future__ import annotations

import time
import uuid

import pytest
import requests

from app.models import Attempt
from app.sender import EXCERPT_BYTES
from tests.support.receiver import Receiver
from tests.support.stack import Stack, Tenant

pytestmark = pytest.mark.integration
TIMEOUT_MS = 2000  # HOOKRELAY_DELIVERY_TIMEOUT of the test stacks


def _attempt_for(
    stack: Stack, receiver: Receiver, tenant: Tenant | None = None, **behaviour: object
) -> Attempt:
    """Send one delivery to a receiver behaving as asked and return its first attempt."""
    tenant = tenant or stack.tenant()
    name = uuid.uuid4().hex[:12]
    endpoint = stack.endpoint(tenant, receiver.url(name, **behaviour))
    response = requests.post(
        f"{stack.base_url}/api/ingest/{endpoint['id']}",
        json={"payload": {}},
        timeout=10,
        headers={"Authorization": f"Bearer {tenant.api_key}"},
    )
    delivery_id = response.json()["deliveryId"]
    receiver.wait_for(name, 1)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        attempts = stack.attempts(delivery_id)
        if attempts:
            return attempts[0]
        time.sleep(0.1)
    raise AssertionError("no attempt recorded")


def test_hanging_receiver(stack: Stack, receiver: Receiver) -> None:
    attempt = _attempt_for(stack, receiver, sleep=30)
    assert attempt.error_message == f"timed out after {TIMEOUT_MS // 1000} s"
    assert attempt.response_time_ms is not None and attempt.response_time_ms < TIMEOUT_MS + 1000


def test_receiver_that_resets_the_connection(stack: Stack, receiver: Receiver) -> None:
    attempt = _attempt_for(stack, receiver, reset=1)
    assert attempt.response_status_code is None
    assert attempt.error_message == "connection reset"
    assert attempt.status == "failed"


def test_receiver_with_a_10_mb_body(stack: Stack, receiver: Receiver) -> None:
    attempt = _attempt_for(stack, receiver, big=10 * 1024 * 1024)
    assert attempt.response_status_code == 200
    assert attempt.response_body is not None and len(attempt.response_body) <= EXCERPT_BYTES
    assert attempt.response_time_ms is not None and attempt.response_time_ms < TIMEOUT_MS


def test_redirect_to_a_private_address_is_not_followed(stack: Stack, receiver: Receiver) -> None:
    target = f"internal-{uuid.uuid4().hex[:8]}"
    attempt = _attempt_for(stack, receiver, redirect=receiver.url(target))
    assert attempt.response_status_code == 302 and attempt.status == "failed"
    assert attempt.error_message == f"redirect to {receiver.url(target)} not followed"
    assert receiver.received(target) == []


def test_the_api_shows_why_an_attempt_failed(stack: Stack, receiver: Receiver) -> None:
    tenant = stack.tenant()
    attempt = _attempt_for(stack, receiver, tenant, huge_header=1)
    path = f"{tenant.workspace_id}/deliveries/{attempt.delivery_id}/attempts"
    assert attempt.error_message == "response too large"
    assert stack.management(tenant, "GET", path).json()[0]["errorMessage"] == "response too large"
