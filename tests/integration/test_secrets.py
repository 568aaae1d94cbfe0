"""Credentials, signing secrets, basic-auth passwords and payloads never reach the logs."""

from __future__ import annotations

import base64
import uuid

import pytest
import requests
from sqlalchemy import text

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


def test_header_values_and_passwords_are_encrypted_at_rest_and_still_sent(
    stack: Stack, receiver: Receiver
) -> None:
    tenant = stack.tenant()
    name = uuid.uuid4().hex[:12]
    api_key, password = f"key-{uuid.uuid4().hex}", f"pw-{uuid.uuid4().hex}"
    created = stack.management(
        tenant,
        "POST",
        f"{tenant.workspace_id}/endpoints",
        {
            "url": receiver.url(name),
            "config": {"headers": {"X-Api-Key": api_key}},
            "authUsername": "user",
            "authPassword": password,
        },
    )
    assert created.status_code == 201, created.text
    assert created.json()["config"]["headers"] == {"X-Api-Key": api_key}  # the API reads it back
    with stack.sessions() as session:
        raw = session.execute(
            text("SELECT * FROM endpoints WHERE id = :id"), {"id": created.json()["id"]}
        ).one()
    assert raw.config and raw.auth_password  # the row is really there
    for column in raw:
        assert api_key not in str(column) and password not in str(column)

    response = requests.post(
        f"{stack.base_url}/api/ingest/{created.json()['id']}",
        timeout=10,
        headers={"Authorization": f"Bearer {tenant.api_key}"},
        json={"payload": {"n": 1}},
    )
    assert stack.wait_final(response.json()["deliveryId"]).status == "delivered"
    [received] = receiver.wait_for(name, 1)
    assert received.headers["X-Api-Key"] == api_key
    sent = base64.b64decode(received.headers["Authorization"].removeprefix("Basic "))
    assert sent.decode() == f"user:{password}"


def test_credentials_in_a_url_are_refused_with_a_pointer_to_basic_auth(stack: Stack) -> None:
    tenant = stack.tenant()
    for method, path in (("POST", "endpoints"), ("PATCH", "endpoints/{id}")):
        if "{id}" in path:
            path = path.format(id=stack.endpoint(tenant, "http://127.0.0.1:9/")["id"])
        response = stack.management(
            tenant, method, f"{tenant.workspace_id}/{path}", {"url": "https://u:pw@example.com/"}
        )
        assert response.status_code == 400, response.text
        error = response.json()["error"]
        assert error["code"] == "invalid_request" and "authPassword" in error["message"]
