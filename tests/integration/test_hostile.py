"""Hostile input on PostgreSQL (whose text cannot hold NUL): always a precise 4xx with the
contract's error shape, never a 5xx nor a 503 that tells the client to retry."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from app.models import Endpoint
from tests.support.receiver import Receiver
from tests.support.services import need
from tests.support.stack import Stack, Tenant, build

pytestmark = pytest.mark.integration
DEEP = "[" * 10_000 + "]" * 10_000


@pytest.fixture(scope="module")
def pg(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Stack, Tenant]]:
    need("postgresql", "redis")
    running = build("pg-redis", tmp_path_factory.mktemp("hostile"))
    try:
        running.start(workers=1)
        yield running, running.tenant()
    finally:
        running.stop()


def _raw(stack: Stack, method: str, path: str, body: str | None, token: str) -> requests.Response:
    """Send `body` as written (json= would refuse NaN and re-encode surrogates)."""
    return requests.request(
        method,
        f"{stack.base_url}{path}",
        data=body.encode("utf-8", "surrogatepass") if body is not None else None,
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        timeout=15,
    )


def _management(stack: Stack, tenant: Tenant, method: str, path: str, body: Any) -> Any:
    raw = body if isinstance(body, str) else json.dumps(body)
    ws = f"/management/v1/workspaces/{tenant.workspace_id}"
    return _raw(stack, method, ws + path, raw, tenant.management_token)


def _assert_400(response: requests.Response, named: str = "") -> None:
    assert response.status_code == 400, (response.status_code, response.text)
    error = response.json()["error"]
    assert error["code"] == "invalid_request" and named in error["message"], error


def _endpoint(stack: Stack, tenant: Tenant, receiver: Receiver) -> str:
    return str(stack.endpoint(tenant, receiver.url(uuid.uuid4().hex))["id"])


NUL = "a\u0000b"


@pytest.mark.parametrize(
    ("method", "path", "body", "named"),
    [
        ("POST", "/event-types", {"name": "nul.desc", "description": NUL}, "description"),
        ("POST", "/endpoints", {"url": "http://example.com/\u0000"}, "url"),
        ("POST", "/endpoints", {"url": "http://example.com/", "description": NUL}, "description"),
        ("POST", "/endpoints", {"url": "http://example.com/", "authUsername": NUL}, "authUsername"),
        ("POST", "/endpoints", {"url": "http://example.com/", "metadata": {"k": NUL}}, "metadata"),
        ("POST", "/applications", {"name": "n", "externalId": NUL}, "externalId"),
        ("POST", "/environments", {"name": NUL, "slug": "nul"}, "name"),
        ("POST", "/applications", {"name": "n", "maxEndpoints": 10**23}, "maxEndpoints"),
    ],
)
def test_nul_bytes_and_huge_integers_in_management_bodies_are_400(
    pg: tuple[Stack, Tenant], method: str, path: str, body: Any, named: str
) -> None:
    stack, tenant = pg
    _assert_400(_management(stack, tenant, method, path, body), named)


def test_nul_bytes_in_ingest_bodies_are_400(pg: tuple[Stack, Tenant], receiver: Receiver) -> None:
    stack, tenant = pg
    endpoint = _endpoint(stack, tenant, receiver)
    send = json.dumps({"payload": {}, "idempotencyKey": NUL})
    _assert_400(
        _raw(stack, "POST", f"/api/ingest/{endpoint}", send, tenant.api_key), "idempotencyKey"
    )
    batch = json.dumps({"items": [{"endpointId": "ep\u0000x", "payload": {}}]})
    response = _raw(stack, "POST", "/api/ingest/batch", batch, tenant.api_key)
    assert response.status_code == 207
    assert response.json()["items"][0]["error"]["code"] == "invalid_request"


def test_nul_bytes_in_subscriptions_are_400(pg: tuple[Stack, Tenant], receiver: Receiver) -> None:
    stack, tenant = pg
    endpoint = _endpoint(stack, tenant, receiver)
    response = _management(
        stack, tenant, "POST", f"/endpoints/{endpoint}/subscriptions", {"eventTypeIds": [NUL]}
    )
    _assert_400(response, "eventTypeIds")


@pytest.mark.parametrize(
    ("method", "path", "who"),
    [
        ("POST", "/api/ingest/ep%00x", "nhk_anything"),
        ("POST", "/api/ingest/ep%00x", "api"),
        ("GET", "/api/deliveries/del%00x", "api"),
        ("GET", "/management/v1/workspaces/{ws}/endpoints/ep%00x", "management"),
        ("GET", "/management/v1/workspaces/ws%00x/endpoints", "management"),
    ],
)
def test_nul_bytes_in_paths_are_404_with_any_token(
    pg: tuple[Stack, Tenant], method: str, path: str, who: str
) -> None:
    stack, tenant = pg
    token = {"api": tenant.api_key, "management": tenant.management_token}.get(who, who)
    response = _raw(stack, method, path.format(ws=tenant.workspace_id), "{}", token)
    assert response.status_code == 404, response.text
    assert response.json()["error"]["code"] == "not_found"


def test_integers_beyond_the_column_are_400(pg: tuple[Stack, Tenant]) -> None:
    stack, tenant = pg
    for query in ("offset=99999999999999999999", "limit=99999999999999999999"):
        ws = f"/management/v1/workspaces/{tenant.workspace_id}"
        response = _raw(stack, "GET", f"{ws}/applications?{query}", None, tenant.management_token)
        _assert_400(response, query.split("=")[0])


@pytest.mark.parametrize(
    "body",
    [
        '{"payload": {"a": NaN}}',
        '{"payload": {"a": Infinity}}',
        '{"payload": {"a": 1e999}}',
        '{"payload": {"a": "\\ud800"}}',
        '{"payload": {"\\ud800": 1}}',
        '{"payload": ' + DEEP + "}",
    ],
)
def test_payloads_that_are_not_deliverable_json_are_400(
    pg: tuple[Stack, Tenant], receiver: Receiver, body: str
) -> None:
    stack, tenant = pg
    endpoint = _endpoint(stack, tenant, receiver)
    _assert_400(_raw(stack, "POST", f"/api/ingest/{endpoint}", body, tenant.api_key))
    good = json.dumps({"endpointId": endpoint, "payload": {"ok": 1}})
    bad = body.replace("{", "{" + json.dumps({"endpointId": endpoint})[1:-1] + ", ", 1)
    batch = f'{{"items": [{good}, {bad}]}}'
    _assert_400(_raw(stack, "POST", "/api/ingest/batch", batch, tenant.api_key))
    _assert_400(_raw(stack, "POST", "/api/ingest/event/some.type", body, tenant.api_key))


@pytest.mark.parametrize("path", ["/endpoints", "/batch"])
def test_deep_nesting_in_management_bodies_is_400(pg: tuple[Stack, Tenant], path: str) -> None:
    stack, tenant = pg
    _assert_400(_management(stack, tenant, "POST", path, DEEP), "nested")


@pytest.mark.parametrize("since", ["0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00"])
def test_redrive_since_outside_the_calendar_is_400(
    pg: tuple[Stack, Tenant], receiver: Receiver, since: str
) -> None:
    stack, tenant = pg
    endpoint = _endpoint(stack, tenant, receiver)
    response = _management(
        stack, tenant, "POST", f"/endpoints/{endpoint}/redrive", {"since": since}
    )
    _assert_400(response, "since")


@pytest.mark.parametrize("url", ["http://example.com:99999/", "http://example.com:-1/"])
def test_endpoint_ports_out_of_range_are_400(
    pg: tuple[Stack, Tenant], receiver: Receiver, url: str
) -> None:
    stack, tenant = pg
    _assert_400(_management(stack, tenant, "POST", "/endpoints", {"url": url}), "url")
    endpoint = _endpoint(stack, tenant, receiver)
    _assert_400(_management(stack, tenant, "PATCH", f"/endpoints/{endpoint}", {"url": url}), "url")


@pytest.mark.parametrize(
    "headers",
    [
        {"X-Ok": "a\r\nInjected: yes"},
        {"X-Bad\r\nInjected": "yes"},
        {"": "empty name"},
        {"X-Nul": "a\u0000b"},
        {"Host": "example.org"},
        {"content-length": "5"},
        {"Transfer-Encoding": "chunked"},
        {"Connection": "close"},
        {"webhook-signature": "v1,forged"},
        {"Bad Name": "space"},
    ],
)
def test_outbound_headers_are_vetted_when_saved(
    pg: tuple[Stack, Tenant], headers: dict[str, str]
) -> None:
    stack, tenant = pg
    body = {"url": "http://example.com/", "config": {"headers": headers}}
    _assert_400(_management(stack, tenant, "POST", "/endpoints", body), "config.headers")


def test_ordinary_outbound_headers_are_kept(pg: tuple[Stack, Tenant]) -> None:
    stack, tenant = pg
    headers = {"Authorization": "Bearer abc", "X-Tenant": "acme\tteam"}
    body = {"url": "http://example.com/", "config": {"headers": headers}}
    response = _management(stack, tenant, "POST", "/endpoints", body)
    assert response.status_code == 201, response.text


def test_one_bad_batch_operation_fails_alone(pg: tuple[Stack, Tenant]) -> None:
    stack, tenant = pg
    name = f"ok.{uuid.uuid4().hex[:8]}"
    body = (
        f'[[1, "POST", "/event-types", {{"name": "{name}"}}], [2, "GET", "/endpoints/\\ud800"],'
        f' [3, "POST", "/event-types", {{"name": "x.y", "description": "\\ud800"}}],'
        ' [4, "POST", "/event-types", {"name": "n.u", "description": "a\\u0000b"}]]'
    )
    response = _management(stack, tenant, "POST", "/batch", body)
    assert response.status_code == 200, response.text
    answers = {number: (status, answer) for number, status, answer in response.json()}
    assert answers[1][0] == 201 and answers[1][1]["name"] == name
    for number in (2, 3, 4):
        status, answer = answers[number]
        assert 400 <= status < 500 and answer["error"]["code"], answers[number]


@pytest.mark.parametrize(
    "url",
    ["http://169.254.169.254/latest/meta-data/", "http://2852039166/", "http://[fd00:ec2::254]/"],
)
def test_metadata_urls_are_refused_with_private_destinations_allowed(
    pg: tuple[Stack, Tenant], url: str
) -> None:
    stack, tenant = pg
    assert stack.settings.allow_private_destinations
    _assert_400(_management(stack, tenant, "POST", "/endpoints", {"url": url}), "metadata")


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://\uff11\uff12\uff17.0.0.1/", "parse"),
        ("http://169.254.169.254/", "metadata"),
    ],
)
def test_a_destination_that_can_never_be_reached_fails_at_once(
    pg: tuple[Stack, Tenant], receiver: Receiver, url: str, reason: str
) -> None:
    # Saved before the rules above existed: the row is written directly.
    stack, tenant = pg
    endpoint = _endpoint(stack, tenant, receiver)
    with stack.sessions.begin() as session:
        row = session.get(Endpoint, endpoint)
        assert row is not None
        row.url = url
    response = _raw(stack, "POST", f"/api/ingest/{endpoint}", '{"payload": {}}', tenant.api_key)
    assert response.status_code == 202, response.text
    delivery_id = response.json()["deliveryId"]
    assert stack.wait_final(delivery_id).status == "failed"
    attempts = stack.attempts(delivery_id)
    assert len(attempts) == 1 and reason in (attempts[0].error_message or ""), attempts
