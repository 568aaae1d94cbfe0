"""Tenant isolation and the operator actions, over HTTP against the real processes."""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Callable
from typing import Any

import pytest
import requests
from nahook import NahookClient, NahookManagement
from standardwebhooks import WebhookVerificationError

from tests.support.receiver import Receiver
from tests.support.stack import Stack, Tenant

pytestmark = pytest.mark.integration


def _name() -> str:
    return uuid.uuid4().hex[:12]


def _call(
    stack: Stack, tenant: Tenant, method: str, path: str, body: Any = None
) -> requests.Response:
    return stack.management(tenant, method, path, body)


def test_another_workspace_sees_nothing(stack: Stack, receiver: Receiver) -> None:
    owner, other = stack.tenant(), stack.tenant()
    ws = owner.workspace_id
    with NahookManagement(owner.management_token, base_url=stack.base_url) as mgmt:
        endpoint = mgmt.endpoints.create(ws, url=receiver.url(_name()))
        event_type = mgmt.event_types.create(ws, name="order.paid")
        mgmt.subscriptions.create(ws, endpoint["id"], event_type_ids=[event_type["id"]])
        app = mgmt.applications.create(ws, name="Acme")
        env = mgmt.environments.create(ws, name="Staging", slug="staging")
    with NahookClient(owner.api_key, base_url=stack.base_url) as client:
        delivery_id = client.send(endpoint["id"], {"n": 1})["deliveryId"]
    other_endpoint = stack.endpoint(other, receiver.url(_name()))
    with NahookClient(other.api_key, base_url=stack.base_url) as client:
        other_ids = {client.send(other_endpoint["id"], {"n": i})["deliveryId"] for i in range(3)}

    ep, et, ap, en = endpoint["id"], event_type["id"], app["id"], env["id"]
    calls: list[tuple[str, str, Any]] = [
        ("GET", "endpoints", None),
        ("POST", "endpoints", {"url": "https://example.com/x"}),
        ("GET", f"endpoints/{ep}", None),
        ("PATCH", f"endpoints/{ep}", {"description": "mine"}),
        ("DELETE", f"endpoints/{ep}", None),
        ("POST", f"endpoints/{ep}/disable", None),
        ("POST", f"endpoints/{ep}/enable", None),
        ("POST", f"endpoints/{ep}/rotate-secret", None),
        ("POST", f"endpoints/{ep}/redrive", {"since": "2020-01-01T00:00:00Z"}),
        ("GET", f"endpoints/{ep}/subscriptions", None),
        ("POST", f"endpoints/{ep}/subscriptions", {"eventTypeIds": [et]}),
        ("DELETE", f"endpoints/{ep}/subscriptions/{et}", None),
        ("GET", f"endpoints/{ep}/deliveries", None),
        ("GET", "event-types", None),
        ("POST", "event-types", {"name": "other.made"}),
        ("GET", f"event-types/{et}", None),
        ("PATCH", f"event-types/{et}", {"description": "mine"}),
        ("DELETE", f"event-types/{et}", None),
        ("GET", "applications", None),
        ("POST", "applications", {"name": "Other"}),
        ("GET", f"applications/{ap}", None),
        ("PATCH", f"applications/{ap}", {"name": "mine"}),
        ("DELETE", f"applications/{ap}", None),
        ("GET", f"applications/{ap}/endpoints", None),
        ("POST", f"applications/{ap}/endpoints", {"url": "https://example.com/x"}),
        ("POST", f"applications/{ap}/portal", {}),
        ("GET", "environments", None),
        ("POST", "environments", {"name": "Other", "slug": "other"}),
        ("GET", f"environments/{en}", None),
        ("PATCH", f"environments/{en}", {"name": "mine"}),
        ("DELETE", f"environments/{en}", None),
        ("GET", f"environments/{en}/event-types", None),
        ("PUT", f"environments/{en}/event-types/{et}/visibility", {"published": True}),
        ("GET", f"deliveries/{delivery_id}", None),
        ("GET", f"deliveries/{delivery_id}/attempts", None),
        ("POST", f"deliveries/{delivery_id}/retry", None),
        ("POST", "batch", [[1, "GET", "/endpoints"], [2, "DELETE", f"/endpoints/{ep}"]]),
    ]
    answers = []
    for method, path, body in calls:
        # the owner's workspace id with the other's token, then the other's own workspace id
        for workspace in (ws, other.workspace_id):
            if workspace != ws and "/" not in path:
                continue  # a collection of the other's own workspace is legitimately its own
            response = _call(stack, other, method, f"{workspace}/{path}", body)
            answers.append((method, workspace == ws, path, response.status_code))
            assert response.json()["error"]["code"] == "not_found", (method, path)

    assert {a[3] for a in answers} == {404}, [a for a in answers if a[3] != 404]
    # Every management route the API documents is in the list above, so a new route cannot
    # slip in without its isolation being tested.
    ids = {ep, et, ap, en, delivery_id}
    tried = {
        (m, "/".join("{}" if p in ids else p for p in path.split("/"))) for m, path, _ in calls
    }
    document = requests.get(f"{stack.base_url}/openapi.json", timeout=10).json()
    prefix = "/management/v1/workspaces/{"
    documented = {
        (method.upper(), re.sub(r"\{[^}]+\}", "{}", path.split("}/", 1)[1]))
        for path, operations in document["paths"].items()
        if path.startswith(prefix) and "}/" in path
        for method in operations
    }
    assert documented == tried, documented ^ tried
    invalid_body = _call(stack, other, "POST", f"{ws}/endpoints", {"bogus": 1})
    assert invalid_body.status_code == 404  # the workspace is checked before the body
    with NahookManagement(owner.management_token, base_url=stack.base_url) as mgmt:
        assert mgmt.endpoints.get(ws, ep)["description"] is None  # untouched
        assert [s["eventTypeId"] for s in mgmt.subscriptions.list(ws, ep)["data"]] == [et]
        listed = {d["id"] for d in mgmt.deliveries.list(ws, ep)["data"]}
    with NahookManagement(other.management_token, base_url=stack.base_url) as mgmt:
        own = {
            d["id"] for d in mgmt.deliveries.list(other.workspace_id, other_endpoint["id"])["data"]
        }
    assert listed == {delivery_id} and own == other_ids


def test_rotation_signs_with_both_secrets_during_the_grace_period(
    stack: Stack, receiver: Receiver
) -> None:
    tenant = stack.tenant()
    name = _name()
    endpoint = stack.endpoint(tenant, receiver.url(name))
    path = f"{tenant.workspace_id}/endpoints/{endpoint['id']}/rotate-secret"
    old = endpoint["secret"]

    rotated = _call(stack, tenant, "POST", path).json()
    with NahookClient(tenant.api_key, base_url=stack.base_url) as client:
        client.send(endpoint["id"], {"n": 1})
        [during] = receiver.wait_for(name, 1)
        ended = _call(stack, tenant, "POST", path, {"gracePeriodSeconds": 0}).json()
        client.send(endpoint["id"], {"n": 2})
        after = receiver.wait_for(name, 2)[1]

    assert rotated["secret"] != old
    assert len(during.headers["webhook-signature"].split(" ")) == 2
    assert during.verify(old) == during.verify(rotated["secret"]) == {"n": 1}
    assert len(after.headers["webhook-signature"].split(" ")) == 1
    assert after.verify(ended["secret"]) == {"n": 2}
    with pytest.raises(WebhookVerificationError):
        after.verify(rotated["secret"])  # its grace period was cut to zero


def test_disable_retry_enable_and_redrive(stack: Stack, receiver: Receiver) -> None:
    tenant = stack.tenant()
    name = _name()
    ws = tenant.workspace_id
    endpoint = stack.endpoint(tenant, receiver.url(name))
    base = f"{ws}/endpoints/{endpoint['id']}"

    disabled = _call(stack, tenant, "POST", f"{base}/disable").json()
    with NahookClient(tenant.api_key, base_url=stack.base_url) as client:
        ids = []
        for n in range(4):
            ids.append(client.send(endpoint["id"], {"n": n})["deliveryId"])
            assert stack.wait_final(ids[-1]).status == "failed"
    enabled = _call(stack, tenant, "POST", f"{base}/enable").json()
    retried = _call(stack, tenant, "POST", f"{ws}/deliveries/{ids[0]}/retry")
    assert stack.wait_final(ids[0]).status == "delivered"
    again = _call(stack, tenant, "POST", f"{ws}/deliveries/{ids[0]}/retry")
    assert stack.wait_final(ids[0]).status == "delivered"
    since = stack.delivery(ids[2]).created_at.isoformat()
    redriven = _call(stack, tenant, "POST", f"{base}/redrive", {"since": since})
    for delivery_id in ids[2:]:
        assert stack.wait_final(delivery_id).status == "delivered"

    assert disabled["isActive"] is False and enabled["isActive"] is True
    assert retried.status_code == 202 and retried.json()["status"] == "scheduled_retry"
    assert again.status_code == 202  # a delivered one can be sent again too
    assert redriven.status_code == 202 and redriven.json() == {"redriven": 2}
    assert stack.delivery(ids[1]).status == "failed"  # created before `since`
    got = receiver.wait_for(name, 4)
    assert sorted(r.verify(endpoint["secret"])["n"] for r in got) == [0, 0, 2, 3]  # type: ignore[index]
    assert [a.error_message for a in stack.attempts(ids[0])] == ["endpoint is disabled", None, None]


@pytest.mark.parametrize(
    ("path", "body", "named"),
    [
        ("endpoints", {"url": "https://example.com/x", "colour": "red"}, "unknown field 'colour'"),
        ("endpoints", {"url": 5}, "'url'"),
        ("endpoints", {"url": "mailto:someone@example.com"}, "http(s)"),
        ("endpoints", {"url": "https://example.com/x", "metadata": {"a": 1}}, "'metadata.a'"),
        ("applications", {"name": "x", "maxEndpoints": "5"}, "'maxEndpoints'"),
        ("applications", {}, "'name' is required"),
        ("environments", {"name": "x", "slug": "No Spaces"}, "'slug'"),
        ("event-types", {"name": "a b"}, "'name'"),
    ],
)
def test_invalid_bodies_are_400_naming_the_field(
    stack: Stack, path: str, body: Any, named: str
) -> None:
    tenant = stack.tenant()
    response = _call(stack, tenant, "POST", f"{tenant.workspace_id}/{path}", body)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid_request" and named in error["message"], error


def test_retry_now_sends_a_delivery_waiting_an_hour_for_its_next_retry(
    fresh_stack: Callable[..., Stack], receiver: Receiver
) -> None:
    stack = fresh_stack("sqlite", HOOKRELAY_RETRY_SCHEDULE="3600,3600").start(workers=1)
    tenant = stack.tenant()
    name = _name()
    endpoint = stack.endpoint(tenant, receiver.url(name, fail=1))
    with NahookClient(tenant.api_key, base_url=stack.base_url) as client:
        delivery_id = client.send(endpoint["id"], {"n": 1})["deliveryId"]
    receiver.wait_for(name, 1)
    deadline = time.monotonic() + 15
    while stack.delivery(delivery_id).status != "scheduled_retry" and time.monotonic() < deadline:
        time.sleep(0.1)
    waiting = stack.delivery(delivery_id)

    retried = _call(stack, tenant, "POST", f"{tenant.workspace_id}/deliveries/{delivery_id}/retry")
    delivered = stack.wait_final(delivery_id)

    assert waiting.status == "scheduled_retry" and waiting.attempts == 1
    assert retried.status_code == 202, retried.text
    assert retried.json()["status"] == "scheduled_retry"
    assert delivered.status == "delivered" and delivered.attempts == 2
    assert len(receiver.wait_for(name, 2)) == 2
