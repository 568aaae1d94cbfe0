"""Credentials, signing secrets, basic-auth passwords and payloads never reach the logs."""

from __future__ import annotations

import uuid

import pytest
import requests

from tests.support.receiver import Receiver
from tests.support.stack import Stack

pytestmark = pytest.mark.integration


def test_no_secret_or_payload_is_logged(stack: Stack, receiver: Receiver) -> None:
    tenant = stack.tenant()
    name = uuid.uuid4().hex[:12]
    password = f"pw-{uuid.uuid4().hex}"
    marker = f"payload-{uuid.uuid4().hex}"
    endpoint = stack.endpoint(tenant, receiver.url(name, fail=1), auth=("user", password))
    response = requests.post(
        f"{stack.base_url}/api/ingest/{endpoint['id']}",
        timeout=10,
        headers={"Authorization": f"Bearer {tenant.api_key}"},
        json={"payload": {"marker": marker}},
    )
    delivery_id = response.json()["deliveryId"]
    requests.post(
        f"{stack.base_url}/api/ingest/batch",
        data="{bad",
        timeout=10,
        headers={"Authorization": f"Bearer {tenant.api_key}"},
    )
    portal_code = f"code-{uuid.uuid4().hex}"  # a one-time code rides in the query string
    requests.get(f"{stack.base_url}/portal?code={portal_code}", timeout=10)
    assert stack.wait_final(delivery_id).status == "delivered"
    [first, _] = receiver.wait_for(name, 2)
    assert first.headers["Authorization"].startswith("Basic ")  # the password was used

    logs = "".join(stack.log(p) for p in ("web", "worker", "worker-2", "scheduler"))
    assert delivery_id in logs or "deliveries.deliver" in logs  # the logs are really there
    assert "GET /portal" in logs  # the access log has the request, without its query string
    secrets = (tenant.api_key, tenant.management_token, endpoint["secret"], password, marker)
    for secret in (*secrets, portal_code):
        assert secret not in logs
