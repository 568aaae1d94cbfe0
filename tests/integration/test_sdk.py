"""Every call of the pinned `nahook` SDK, unmodified, against the real processes over HTTP.

Each test runs on every backend (sqlite, pg-redis, pg-rabbitmq). Responses are also held to
the response schemas the OpenAPI document is generated from.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

import pytest
from nahook import NahookAPIError, NahookClient, NahookManagement
from pydantic import BaseModel

from app.schemas.responses import (
    ApplicationOut,
    AttemptOut,
    DeliveryOut,
    EndpointOut,
    EnvironmentOut,
    EventTypeOut,
    PortalSessionOut,
    SubscriptionOut,
    VisibilityOut,
)
from tests.support.receiver import Receiver
from tests.support.stack import Stack, Tenant

pytestmark = pytest.mark.integration


def _name() -> str:
    return uuid.uuid4().hex[:12]


def _shape(model: type[BaseModel], *objects: Any) -> None:
    """Raise unless every object has exactly the fields (and types) of `model`."""
    for obj in objects:
        model.model_validate(obj)


def _mgmt(stack: Stack, tenant: Tenant) -> NahookManagement:
    return NahookManagement(tenant.management_token, base_url=stack.base_url)


def _client(stack: Stack, tenant: Tenant) -> NahookClient:
    return NahookClient(tenant.api_key, base_url=stack.base_url)


def _error(call: Any, *args: Any, **kwargs: Any) -> tuple[int, str]:
    with pytest.raises(NahookAPIError) as caught:
        call(*args, **kwargs)
    return caught.value.status, caught.value.code


def _wait_status(mgmt: NahookManagement, ws: str, delivery_id: str, status: str) -> None:
    deadline = time.monotonic() + 30
    while mgmt.deliveries.get(ws, delivery_id)["status"] != status:
        assert time.monotonic() < deadline, f"{delivery_id} never became {status}"
        time.sleep(0.1)


def test_endpoints_crud(stack: Stack, receiver: Receiver) -> None:
    tenant = stack.tenant()
    ws = tenant.workspace_id
    with _mgmt(stack, tenant) as mgmt:
        created = mgmt.endpoints.create(
            ws,
            url=receiver.url(_name()),
            description="orders",
            metadata={"team": "billing"},
            config={"headers": {"X-Team": "billing"}, "timeout": 5},
            auth_username="user",
            auth_password="pass",
        )
        slack = mgmt.endpoints.create(ws, url="https://hooks.example.com/x", type_="slack")
        listed = mgmt.endpoints.list(ws)["data"]
        updated = mgmt.endpoints.update(
            ws, created["id"], description="paid orders", metadata={"team": "x"}, is_active=False
        )
        fetched = mgmt.endpoints.get(ws, created["id"])
        mgmt.endpoints.delete(ws, slack["id"])
        after_delete = [e["id"] for e in mgmt.endpoints.list(ws)["data"]]
        gone = _error(mgmt.endpoints.get, ws, slack["id"])

    _shape(EndpointOut, created, slack, updated, fetched, *listed)
    assert created["secret"].startswith("whsec_") and created["isActive"] is True
    assert created["config"] == {"headers": {"X-Team": "billing"}, "timeout": 5}
    assert slack["type"] == "slack"
    assert [e["id"] for e in listed] == [created["id"], slack["id"]]
    assert updated["description"] == "paid orders" and updated["isActive"] is False
    assert fetched == updated
    assert after_delete == [created["id"]]
    assert gone == (404, "not_found")


def test_event_types_subscriptions_and_environments(stack: Stack) -> None:
    tenant = stack.tenant()
    ws = tenant.workspace_id
    with _mgmt(stack, tenant) as mgmt:
        paid = mgmt.event_types.create(ws, name="order.paid", description="paid")
        refunded = mgmt.event_types.create(ws, name="order.refunded")
        duplicate = _error(mgmt.event_types.create, ws, name="order.paid")
        endpoint = mgmt.endpoints.create(ws, url="https://example.com/hook")
        subscribed = mgmt.subscriptions.create(
            ws, endpoint["id"], event_type_ids=[paid["id"], refunded["id"]]
        )
        again = mgmt.subscriptions.create(ws, endpoint["id"], event_type_ids=[paid["id"]])
        subscriptions = mgmt.subscriptions.list(ws, endpoint["id"])["data"]
        counted = mgmt.event_types.get(ws, paid["id"])
        mgmt.subscriptions.delete(ws, endpoint["id"], refunded["id"])
        remaining = mgmt.subscriptions.list(ws, endpoint["id"])["data"]
        described = mgmt.event_types.update(ws, refunded["id"], description="money back")
        mgmt.event_types.delete(ws, refunded["id"])
        types = mgmt.event_types.list(ws)["data"]

        default = mgmt.environments.list(ws)["data"]
        staging = mgmt.environments.create(ws, name="Staging", slug="staging")
        slug_taken = _error(mgmt.environments.create, ws, name="Again", slug="staging")
        bad_slug = _error(mgmt.environments.create, ws, name="Bad", slug="Not A Slug")
        renamed = mgmt.environments.update(ws, staging["id"], name="Staging 2")
        fetched = mgmt.environments.get(ws, staging["id"])
        hidden = mgmt.environments.list_event_type_visibility(ws, staging["id"])["data"]
        shown = mgmt.environments.set_event_type_visibility(
            ws, staging["id"], paid["id"], published=True
        )
        visible = mgmt.environments.list_event_type_visibility(ws, staging["id"])["data"]
        default_kept = _error(mgmt.environments.delete, ws, default[0]["id"])
        mgmt.environments.delete(ws, staging["id"])
        environments = mgmt.environments.list(ws)["data"]

    _shape(EventTypeOut, paid, refunded, counted, described, *types)
    _shape(SubscriptionOut, *subscriptions, *remaining)
    _shape(EnvironmentOut, *default, staging, renamed, fetched, *environments)
    _shape(VisibilityOut, *hidden, shown, *visible)
    assert duplicate == (409, "conflict")
    assert subscribed == {"subscribed": 2} and again == {"subscribed": 0}
    assert {s["eventTypeName"] for s in subscriptions} == {"order.paid", "order.refunded"}
    assert counted["subscriberCount"] == 1
    assert [s["eventTypeId"] for s in remaining] == [paid["id"]]
    assert described["description"] == "money back"
    assert [t["name"] for t in types] == ["order.paid"]
    assert [(e["slug"], e["isDefault"]) for e in default] == [("production", True)]
    assert slug_taken == (409, "conflict") and bad_slug == (400, "invalid_request")
    assert renamed["name"] == fetched["name"] == "Staging 2"
    assert hidden == [
        {"eventTypeId": paid["id"], "eventTypeName": "order.paid", "published": False}
    ]
    assert shown["published"] is True and visible[0]["published"] is True
    assert default_kept == (409, "conflict")
    assert [e["id"] for e in environments] == [default[0]["id"]]


def test_applications_max_endpoints_and_portal(stack: Stack) -> None:
    tenant = stack.tenant()
    ws = tenant.workspace_id
    with _mgmt(stack, tenant) as mgmt:
        capped = mgmt.applications.create(
            ws, name="Acme", external_id="acme-1", metadata={"plan": "pro"}, max_endpoints=1
        )
        others = [mgmt.applications.create(ws, name=f"App {i}") for i in range(3)]
        taken = _error(mgmt.applications.create, ws, name="Acme again", external_id="acme-1")
        page = mgmt.applications.list(ws, limit=2, offset=1)["data"]
        first = mgmt.applications.create_endpoint(
            ws, capped["id"], url="https://example.com/a", description="a"
        )
        over_cap = _error(
            mgmt.applications.create_endpoint, ws, capped["id"], url="https://example.com/b"
        )
        kept = mgmt.applications.update(ws, capped["id"], name="Acme Inc")
        lifted = mgmt.applications.update(ws, capped["id"], max_endpoints=None)
        second = mgmt.applications.create_endpoint(ws, capped["id"], url="https://example.com/b")
        read_only = mgmt.applications.update(
            ws, capped["id"], max_endpoints=0, show_event_types=False
        )
        frozen = _error(
            mgmt.applications.create_endpoint, ws, capped["id"], url="https://example.com/c"
        )
        app_endpoints = mgmt.applications.list_endpoints(ws, capped["id"])["data"]
        portal = mgmt.portal_sessions.create(
            ws, capped["id"], metadata={"user": "u1"}, role="viewer", expires_in_minutes=30
        )
        fetched = mgmt.applications.get(ws, capped["id"])
        mgmt.applications.delete(ws, capped["id"])
        deleted = _error(mgmt.applications.get, ws, capped["id"])
        endpoint_gone = _error(mgmt.endpoints.get, ws, first["id"])

    _shape(ApplicationOut, capped, *others, *page, kept, lifted, read_only, fetched)
    _shape(EndpointOut, first, second, *app_endpoints)
    _shape(PortalSessionOut, portal)
    assert capped["maxEndpoints"] == 1 and capped["showEventTypes"] is True
    assert capped["externalId"] == "acme-1" and capped["metadata"] == {"plan": "pro"}
    assert taken == (409, "conflict")
    assert [a["id"] for a in page] == [others[0]["id"], others[1]["id"]]
    assert over_cap == (409, "conflict")
    assert kept["name"] == "Acme Inc" and kept["maxEndpoints"] == 1  # absent: unchanged
    assert lifted["maxEndpoints"] is None  # explicit null: cleared
    assert read_only["maxEndpoints"] == 0 and read_only["showEventTypes"] is False
    assert frozen == (409, "conflict")
    assert [e["id"] for e in app_endpoints] == [first["id"], second["id"]]
    assert portal["url"].startswith(stack.base_url) and portal["code"] in portal["url"]
    assert fetched == read_only
    assert deleted == endpoint_gone == (404, "not_found")


def test_trigger_reaches_every_subscriber_and_no_other(stack: Stack, receiver: Receiver) -> None:
    tenant = stack.tenant()
    ws = tenant.workspace_id
    names = {key: _name() for key in ("plain", "app", "unsubscribed", "disabled", "staging")}
    with _mgmt(stack, tenant) as mgmt:
        paid = mgmt.event_types.create(ws, name="order.paid")
        refunded = mgmt.event_types.create(ws, name="order.refunded")
        app = mgmt.applications.create(ws, name="Acme")
        staging = mgmt.environments.create(ws, name="Staging", slug="staging")
        ep = {
            "plain": mgmt.endpoints.create(ws, url=receiver.url(names["plain"])),
            "app": mgmt.applications.create_endpoint(ws, app["id"], url=receiver.url(names["app"])),
            "unsubscribed": mgmt.endpoints.create(ws, url=receiver.url(names["unsubscribed"])),
            "disabled": mgmt.endpoints.create(ws, url=receiver.url(names["disabled"])),
            "staging": mgmt.endpoints.create(
                ws, url=receiver.url(names["staging"]), environment_id=staging["id"]
            ),
        }
        for key in ("plain", "app", "disabled", "staging"):
            mgmt.subscriptions.create(ws, ep[key]["id"], event_type_ids=[paid["id"]])
        mgmt.subscriptions.create(ws, ep["unsubscribed"]["id"], event_type_ids=[refunded["id"]])
        mgmt.endpoints.update(ws, ep["disabled"]["id"], is_active=False)

        with _client(stack, tenant) as client:
            single = client.trigger("order.paid", {"n": 1}, metadata={"source": "test"})
            batch = client.trigger_batch(
                [
                    {"eventType": "order.paid", "payload": {"n": 2}},
                    {"eventType": "order.refunded", "payload": {"n": 3}},
                    {"eventType": "order.unknown", "payload": {"n": 4}},
                    {"eventType": "order.paid", "payload": "not an object"},
                ]
            )
            unknown = _error(client.trigger, "order.unknown", {"n": 5})
            too_big = _error(client.trigger, "order.paid", {"b": "x" * (300 * 1024)})
        silent = {
            key: mgmt.deliveries.list(ws, ep[key]["id"])["data"] for key in ("disabled", "staging")
        }

    assert single["eventTypeId"] == paid["id"] and single["status"] == "accepted"
    assert len(single["deliveryIds"]) == 2
    items = batch["items"]
    assert [i["index"] for i in items] == [0, 1, 2, 3]
    assert len(items[0]["deliveryIds"]) == 2 and items[0]["eventTypeId"] == paid["id"]
    assert len(items[1]["deliveryIds"]) == 1 and items[1]["eventTypeId"] == refunded["id"]
    assert items[2]["error"]["code"] == "not_found"
    assert items[3]["error"]["code"] == "invalid_request"
    assert unknown == (404, "not_found") and too_big == (413, "payload_too_large")
    for key, expected in (("plain", [1, 2]), ("app", [1, 2]), ("unsubscribed", [3])):
        got = receiver.wait_for(names[key], len(expected))
        assert sorted(r.verify(ep[key]["secret"])["n"] for r in got) == expected  # type: ignore[index]
    assert silent == {"disabled": [], "staging": []}
    assert receiver.received(names["disabled"]) == receiver.received(names["staging"]) == []


def test_deliveries_pages_filters_payload_and_attempts(stack: Stack, receiver: Receiver) -> None:
    tenant = stack.tenant()
    ws = tenant.workspace_id
    name = _name()
    with _mgmt(stack, tenant) as mgmt, _client(stack, tenant) as client:
        endpoint = mgmt.endpoints.create(ws, url=receiver.url(name))
        delivered = [client.send(endpoint["id"], {"n": i})["deliveryId"] for i in range(5)]
        receiver.wait_for(name, 5)
        for delivery_id in delivered:
            _wait_status(mgmt, ws, delivery_id, "delivered")
        mgmt.endpoints.update(ws, endpoint["id"], is_active=False)
        failed = [client.send(endpoint["id"], {"n": i})["deliveryId"] for i in (5, 6)]
        for delivery_id in failed:
            _wait_status(mgmt, ws, delivery_id, "failed")

        pages, cursor = [], None
        while True:
            page = mgmt.deliveries.list(ws, endpoint["id"], limit=3, cursor=cursor)
            pages.append(page["data"])
            cursor = page["next_cursor"]
            if cursor is None:
                break
        only_failed = mgmt.deliveries.list(ws, endpoint["id"], status="failed")["data"]
        only_delivered = mgmt.deliveries.list(ws, endpoint["id"], status="delivered")["data"]
        capped = mgmt.deliveries.list(ws, endpoint["id"], limit=1000)["data"]
        bad_status = _error(mgmt.deliveries.list, ws, endpoint["id"], status="lost")
        bad_cursor = _error(mgmt.deliveries.list, ws, endpoint["id"], cursor="garbage")
        plain = mgmt.deliveries.get(ws, delivered[2])
        with_payload = mgmt.deliveries.get(ws, delivered[2], include_payload=True)
        attempts = mgmt.deliveries.get_attempts(ws, failed[0])
        delivered_attempts = mgmt.deliveries.get_attempts(ws, delivered[0])

    everything = [d for page in pages for d in page]
    _shape(DeliveryOut, *everything, plain, with_payload)
    _shape(AttemptOut, *attempts, *delivered_attempts)
    assert [len(page) for page in pages] == [3, 3, 1]
    assert [d["id"] for d in everything] == list(reversed(delivered + failed))  # newest first
    assert {d["id"] for d in only_failed} == set(failed)
    assert {d["id"] for d in only_delivered} == set(delivered)
    assert len(capped) == 7
    assert bad_status == bad_cursor == (400, "invalid_request")
    assert "payload" not in plain and plain["status"] == "delivered"
    assert with_payload["payload"] == {
        "status": "available",
        "data": {"n": 2},
        "contentType": "application/json",
    }
    assert [(a["attemptNumber"], a["errorMessage"]) for a in attempts] == [
        (1, "endpoint is disabled")
    ]
    assert [a["responseStatusCode"] for a in delivered_attempts] == [200]


def test_sdk_errors_map_status_and_code(stack: Stack) -> None:
    tenant = stack.tenant()
    ws = tenant.workspace_id
    with _mgmt(stack, tenant) as mgmt:
        errors = {
            "not http": _error(mgmt.endpoints.create, ws, url="ftp://example.com/x"),
            "bad name": _error(mgmt.event_types.create, ws, name="has spaces"),
            "negative cap": _error(mgmt.applications.create, ws, name="x", max_endpoints=-1),
            "unknown type": _error(mgmt.subscriptions.create, ws, "ep_x", event_type_ids=["e"]),
            "missing": _error(mgmt.deliveries.get, ws, "del_missing"),
            "other ws": _error(mgmt.endpoints.list, "ws_someone_else"),
        }
    with NahookManagement("nhm_wrong", base_url=stack.base_url) as stranger:
        errors["bad token"] = _error(stranger.endpoints.list, ws)
    with NahookClient("nhk_us_wrong", base_url=stack.base_url) as client:
        errors["bad key"] = _error(client.trigger, "order.paid", {})

    assert errors == {
        "not http": (400, "invalid_request"),
        "bad name": (400, "invalid_request"),
        "negative cap": (400, "invalid_request"),
        "unknown type": (404, "not_found"),
        "missing": (404, "not_found"),
        "other ws": (404, "not_found"),
        "bad token": (401, "unauthorized"),
        "bad key": (401, "unauthorized"),
    }


def test_endpoints_with_isolation_fields_round_trip_through_the_sdk(stack: Stack) -> None:
    tenant = stack.tenant()
    ws = tenant.workspace_id
    made = stack.management(
        tenant,
        "POST",
        f"{ws}/endpoints",
        {"url": "https://example.com/capped", "maxInFlight": 3, "rateLimit": 2.5},
    )
    assert made.status_code == 201, made.text
    with _mgmt(stack, tenant) as mgmt:
        fetched = mgmt.endpoints.get(ws, made.json()["id"])
        listed = mgmt.endpoints.list(ws)["data"]
        updated = mgmt.endpoints.update(ws, fetched["id"], description="kept limits")

    _shape(EndpointOut, fetched, updated, *listed)
    for seen in (fetched, updated, *listed):
        assert (seen["maxInFlight"], seen["rateLimit"]) == (3, 2.5)
        assert seen["circuit"] == {"state": "closed", "consecutiveFailures": 0, "openUntil": None}
        assert seen["pausedUntil"] is None and seen["disabledReason"] is None
    assert updated["description"] == "kept limits"
