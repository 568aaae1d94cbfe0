"""End to end through real processes: HTTP ingest -> database -> broker -> worker -> receiver.

Each test runs on every backend (sqlite + SQLAlchemy transport, PostgreSQL + Redis,
PostgreSQL + RabbitMQ) and talks to the web process over a socket.
"""

from __future__ import annotations

import itertools
import json
import threading
import time
import uuid
from typing import Any

import pytest
import requests
from nahook import NahookAPIError, NahookClient
from sqlalchemy import text

from tests.support.receiver import Receiver
from tests.support.stack import Stack, Tenant

pytestmark = pytest.mark.integration


def _name() -> str:
    return uuid.uuid4().hex[:12]


def _post(stack: Stack, tenant: Tenant, path: str, body: Any) -> requests.Response:
    data = body if isinstance(body, str | bytes) else json.dumps(body)
    return requests.post(
        f"{stack.base_url}{path}",
        data=data,
        timeout=10,
        headers={"Authorization": f"Bearer {tenant.api_key}", "Content-Type": "application/json"},
    )


def test_single_send_is_signed_delivered_and_reported(stack: Stack, receiver: Receiver) -> None:
    tenant = stack.tenant()
    name = _name()
    endpoint = stack.endpoint(tenant, receiver.url(name))

    response = _post(stack, tenant, f"/api/ingest/{endpoint['id']}", {"payload": {"order": 1}})

    assert response.status_code == 202
    body = response.json()
    assert body["status"] == "accepted" and body["deliveryId"].startswith("del_")
    uuid.UUID(body["idempotencyKey"])  # generated and echoed when none is given
    [got] = receiver.wait_for(name, 1)
    assert got.verify(endpoint["secret"]) == {"order": 1}
    assert got.headers["webhook-id"] == body["deliveryId"]
    assert stack.wait_final(body["deliveryId"]).status == "delivered"
    report = requests.get(
        f"{stack.base_url}/api/deliveries/{body['deliveryId']}?include=payload,attempts",
        headers={"Authorization": f"Bearer {tenant.api_key}"},
        timeout=10,
    ).json()
    assert report["status"] == "delivered"
    assert report["totalAttempts"] == 1
    assert report["deliveredAt"] is not None and report["nextRetryAt"] is None
    assert report["payload"] == {
        "status": "available",
        "data": {"order": 1},
        "contentType": "application/json",
    }
    assert [a["responseStatusCode"] for a in report["attempts"]] == [200]


def test_sdk_send_and_send_batch(stack: Stack, receiver: Receiver) -> None:
    tenant = stack.tenant()
    name = _name()
    endpoint = stack.endpoint(tenant, receiver.url(name))
    with NahookClient(tenant.api_key, base_url=stack.base_url) as client:
        sent = client.send(endpoint["id"], {"n": 0}, idempotency_key=f"k-{name}")
        batch = client.send_batch(
            [{"endpointId": endpoint["id"], "payload": {"n": i}} for i in (1, 2)]
        )
        with pytest.raises(NahookAPIError) as missing:
            client.send("ep_missing", {"n": 3})

    assert sent["idempotencyKey"] == f"k-{name}" and sent["status"] == "accepted"
    assert [item["index"] for item in batch["items"]] == [0, 1]
    assert all(item["status"] == "accepted" for item in batch["items"])
    assert (missing.value.status, missing.value.code) == (404, "not_found")
    got = receiver.wait_for(name, 3)
    assert sorted(r.verify(endpoint["secret"])["n"] for r in got) == [0, 1, 2]  # type: ignore[index]


def test_batch_with_mixed_items_is_207_and_good_items_deliver(
    stack: Stack, receiver: Receiver
) -> None:
    tenant = stack.tenant()
    name = _name()
    endpoint = stack.endpoint(tenant, receiver.url(name))
    too_big = {"blob": "x" * (300 * 1024)}
    items = [
        {"endpointId": endpoint["id"], "payload": {"i": 0}},
        {"endpointId": "ep_does_not_exist", "payload": {"i": 1}},
        {"endpointId": endpoint["id"], "payload": "not an object"},
        {"endpointId": endpoint["id"], "payload": too_big},
        {"endpointId": endpoint["id"], "payload": {"i": 4}, "idempotencyKey": f"b-{name}"},
    ]

    response = _post(stack, tenant, "/api/ingest/batch", {"items": items})

    assert response.status_code == 207
    result = response.json()["items"]
    assert [r["index"] for r in result] == [0, 1, 2, 3, 4]
    assert result[1]["error"]["code"] == "not_found"
    assert result[2]["error"]["code"] == "invalid_request"
    assert "payload" in result[2]["error"]["message"]
    assert result[3]["error"]["code"] == "payload_too_large"
    assert result[4]["idempotencyKey"] == f"b-{name}"
    for ok in (result[0], result[4]):
        assert ok["status"] == "accepted" and "error" not in ok
    got = receiver.wait_for(name, 2)
    assert sorted(json.loads(r.body)["i"] for r in got) == [0, 4]


def test_idempotent_repeat_returns_original_and_conflict_is_409(
    stack: Stack, receiver: Receiver
) -> None:
    tenant = stack.tenant()
    name = _name()
    endpoint = stack.endpoint(tenant, receiver.url(name))
    body = {"payload": {"x": 1}, "idempotencyKey": f"idem-{name}"}

    first = _post(stack, tenant, f"/api/ingest/{endpoint['id']}", body)
    again = _post(stack, tenant, f"/api/ingest/{endpoint['id']}", body)
    other = _post(
        stack,
        tenant,
        f"/api/ingest/{endpoint['id']}",
        {"payload": {"x": 2}, "idempotencyKey": f"idem-{name}"},
    )
    in_batch = _post(
        stack,
        tenant,
        "/api/ingest/batch",
        {
            "items": [
                {
                    "endpointId": endpoint["id"],
                    "payload": {"x": 1},
                    "idempotencyKey": f"idem-{name}",
                },
                {
                    "endpointId": endpoint["id"],
                    "payload": {"x": 3},
                    "idempotencyKey": f"idem-{name}",
                },
            ]
        },
    )

    assert first.status_code == again.status_code == 202
    assert again.json()["deliveryId"] == first.json()["deliveryId"]
    assert other.status_code == 409 and other.json()["error"]["code"] == "conflict"
    assert in_batch.status_code == 207
    items = in_batch.json()["items"]
    assert items[0]["deliveryId"] == first.json()["deliveryId"]
    assert items[1]["error"]["code"] == "conflict"
    receiver.wait_for(name, 1)
    time.sleep(1.5)
    assert len(receiver.received(name)) == 1


def test_concurrent_duplicate_keys_create_one_delivery(stack: Stack, receiver: Receiver) -> None:
    tenant = stack.tenant()
    name = _name()
    endpoint = stack.endpoint(tenant, receiver.url(name))
    body = {"payload": {"race": True}, "idempotencyKey": f"race-{name}"}
    results: list[requests.Response] = []
    start = threading.Barrier(8)

    def fire() -> None:
        start.wait()
        results.append(_post(stack, tenant, f"/api/ingest/{endpoint['id']}", body))

    threads = [threading.Thread(target=fire) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert [r.status_code for r in results] == [202] * 8
    assert len({r.json()["deliveryId"] for r in results}) == 1
    receiver.wait_for(name, 1)
    time.sleep(1.5)
    assert len(receiver.received(name)) == 1


def test_retry_then_success_records_every_attempt(stack: Stack, receiver: Receiver) -> None:
    tenant = stack.tenant()
    name = _name()
    endpoint = stack.endpoint(tenant, receiver.url(name, fail=2))

    delivery_id = _post(
        stack, tenant, f"/api/ingest/{endpoint['id']}", {"payload": {"r": 1}}
    ).json()["deliveryId"]

    assert stack.wait_final(delivery_id).status == "delivered"
    attempts = stack.attempts(delivery_id)
    assert [a.response_status_code for a in attempts] == [500, 500, 200]
    assert [a.attempt_number for a in attempts] == [1, 2, 3]
    got = receiver.received(name)
    assert len({r.headers["webhook-id"] for r in got}) == 1  # stable across retries
    for r in got:
        r.verify(endpoint["secret"])
    gaps = [b.at - a.at for a, b in itertools.pairwise(got)]
    assert all(gap >= 0.85 for gap in gaps), gaps  # the 1 s schedule, minus 10 % jitter


def test_exhausted_retries_end_in_dead_letter(stack: Stack, receiver: Receiver) -> None:
    tenant = stack.tenant()
    name = _name()
    endpoint = stack.endpoint(tenant, receiver.url(name, status=500))

    delivery_id = _post(stack, tenant, f"/api/ingest/{endpoint['id']}", {"payload": {}}).json()[
        "deliveryId"
    ]

    delivery = stack.wait_final(delivery_id)
    assert delivery.status == "dead_letter"
    assert delivery.attempts == 4  # first attempt + the three retries of "1,1,1"
    assert len(receiver.received(name)) == 4


def test_410_disables_endpoint_and_later_sends_fail_without_a_request(
    stack: Stack, receiver: Receiver
) -> None:
    tenant = stack.tenant()
    name = _name()
    endpoint = stack.endpoint(tenant, receiver.url(name, status=410))

    first = _post(stack, tenant, f"/api/ingest/{endpoint['id']}", {"payload": {}}).json()
    assert stack.wait_final(first["deliveryId"]).status == "failed"
    assert stack.endpoint_row(endpoint["id"]).is_active is False
    second = _post(stack, tenant, f"/api/ingest/{endpoint['id']}", {"payload": {}}).json()

    assert stack.wait_final(second["deliveryId"]).status == "failed"
    assert stack.attempts(second["deliveryId"])[0].error_message == "endpoint is disabled"
    assert len(receiver.received(name)) == 1


def test_retry_after_on_429_is_honoured(stack: Stack, receiver: Receiver) -> None:
    tenant = stack.tenant()
    name = _name()
    endpoint = stack.endpoint(tenant, receiver.url(name, status=429, retry_after=3))
    delivery_id = _post(stack, tenant, f"/api/ingest/{endpoint['id']}", {"payload": {}}).json()[
        "deliveryId"
    ]

    first, second = receiver.wait_for(name, 2, timeout=20)[:2]
    assert second.at - first.at >= 2.9  # Retry-After: 3 beats the 1 s schedule
    assert stack.delivery(delivery_id).attempts >= 2


def test_hanging_endpoint_times_out_and_does_not_hold_up_a_fast_one(
    stack: Stack, receiver: Receiver
) -> None:
    tenant = stack.tenant()
    slow_name, fast_name = _name(), _name()
    slow = stack.endpoint(tenant, receiver.url(slow_name, sleep=10))
    fast = stack.endpoint(tenant, receiver.url(fast_name))
    slow_ids = [
        _post(stack, tenant, f"/api/ingest/{slow['id']}", {"payload": {"i": i}}).json()[
            "deliveryId"
        ]
        for i in range(3)
    ]
    time.sleep(0.3)
    started = time.monotonic()
    fast_id = _post(stack, tenant, f"/api/ingest/{fast['id']}", {"payload": {}}).json()[
        "deliveryId"
    ]

    receiver.wait_for(fast_name, 1, timeout=10)
    assert time.monotonic() - started < 2.0  # the slow ones are still hanging meanwhile
    assert stack.wait_final(fast_id).status == "delivered"
    deadline = time.monotonic() + 15
    while not all(stack.attempts(i) for i in slow_ids) and time.monotonic() < deadline:
        time.sleep(0.1)
    for delivery_id in slow_ids:
        attempt = stack.attempts(delivery_id)[0]
        assert attempt.error_message == "timed out after 2 s"  # HOOKRELAY_DELIVERY_TIMEOUT
        assert attempt.response_time_ms is not None and attempt.response_time_ms < 3500


@pytest.mark.parametrize(
    ("path", "body", "status", "code"),
    [
        (
            "/api/ingest/batch",
            {"items": [{"endpointId": "ep_x", "payload": {}}] * 21},
            400,
            "invalid_request",
        ),
        ("/api/ingest/batch", {"items": []}, 400, "invalid_request"),
        ("/api/ingest/batch", {}, 400, "invalid_request"),
        ("/api/ingest/batch", "{not json", 400, "invalid_request"),
        ("/api/ingest/ep_x", "[1, 2", 400, "invalid_request"),
        ("/api/ingest/ep_x", {"payload": {}, "extra": 1}, 400, "invalid_request"),
        ("/api/ingest/ep_x", {"payload": {"b": "x" * (300 * 1024)}}, 413, "payload_too_large"),
    ],
)
def test_bad_requests_get_precise_errors(
    stack: Stack, path: str, body: Any, status: int, code: str
) -> None:
    tenant = stack.tenant()
    if path == "/api/ingest/ep_x" and status == 413:
        path = f"/api/ingest/{stack.endpoint(tenant, 'http://127.0.0.1:9/')['id']}"
    response = _post(stack, tenant, path, body)
    assert response.status_code == status
    assert response.json()["error"]["code"] == code


@pytest.mark.parametrize("header", [None, "Bearer nhk_us_wrong", "Basic abc", "Bearer nhm_x"])
def test_bad_credentials_are_401(stack: Stack, header: str | None) -> None:
    headers = {"Authorization": header} if header else {}
    response = requests.post(
        f"{stack.base_url}/api/ingest/batch", json={"items": []}, headers=headers, timeout=10
    )
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "unauthorized"


def test_results_endpoint_hides_other_workspaces(stack: Stack, receiver: Receiver) -> None:
    owner, other = stack.tenant(), stack.tenant()
    endpoint = stack.endpoint(owner, receiver.url(_name()))
    delivery_id = _post(stack, owner, f"/api/ingest/{endpoint['id']}", {"payload": {}}).json()[
        "deliveryId"
    ]
    response = requests.get(
        f"{stack.base_url}/api/deliveries/{delivery_id}",
        timeout=10,
        headers={"Authorization": f"Bearer {other.api_key}"},
    )
    assert response.status_code == 404
    sent_elsewhere = _post(stack, other, f"/api/ingest/{endpoint['id']}", {"payload": {}})
    assert sent_elsewhere.status_code == 404


def test_ingest_blocked_past_its_timeout_is_504_and_stores_nothing(stack: Stack) -> None:
    tenant = stack.tenant()
    endpoint = stack.endpoint(tenant, "http://127.0.0.1:9/")
    key = f"blocked-{_name()}"
    with stack.sessions.begin() as session:  # hold the write lock longer than the 2 s timeout
        if session.get_bind().dialect.name == "postgresql":
            session.execute(text("LOCK TABLE idempotency_keys IN EXCLUSIVE MODE"))
        else:
            session.execute(
                text("UPDATE workspaces SET name = name WHERE id = :id"),
                {"id": tenant.workspace_id},
            )
        started = time.monotonic()
        response = _post(
            stack, tenant, f"/api/ingest/{endpoint['id']}", {"payload": {}, "idempotencyKey": key}
        )
        elapsed = time.monotonic() - started
    assert response.status_code == 504
    assert response.json()["error"]["code"] == "ingest_timeout"
    assert elapsed < 4
    retried = _post(
        stack, tenant, f"/api/ingest/{endpoint['id']}", {"payload": {}, "idempotencyKey": key}
    )
    assert retried.status_code == 202  # nothing half-written: the key was never claimed
