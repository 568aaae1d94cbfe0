"""Every dashboard page beyond sign-in, and the portal's test event and retry, in Chromium.

Against the Procfile's processes on the embedded backend, with a real receiver; each page
is kept as a screenshot under artifacts/screenshots/.
"""

from __future__ import annotations

import re
import time
import uuid
from typing import Any

import pytest
import requests

from tests.browser.test_pages import ONE_BACKEND, management, send, shot
from tests.support.receiver import Receiver
from tests.support.stack import Stack, Tenant

pytestmark = [pytest.mark.integration, pytest.mark.browser]


def sign_in(page: Any, stack: Stack, tenant: Tenant) -> None:
    page.goto(f"{stack.base_url}/dashboard/")
    page.fill("#token", tenant.management_token)
    page.click("button[type=submit]")
    page.wait_for_selector("#time-axis")


def reload_until(page: Any, done: Any, timeout: float = 30) -> None:
    """Reload until `done()` holds: the worker delivers between two page loads."""
    deadline = time.monotonic() + timeout
    while not done() and time.monotonic() < deadline:
        time.sleep(0.5)
        page.reload()
    assert done()


def headers_shown(page: Any) -> dict[str, str]:
    rows = page.locator("#headers tr")
    return {
        rows.nth(n).locator("td").nth(0).inner_text(): rows.nth(n).locator("td").nth(1).inner_text()
        for n in range(rows.count())
    }


@ONE_BACKEND
def test_dashboard_pages_and_actions(stack: Stack, receiver: Receiver, browser: Any) -> None:
    tenant = stack.tenant()
    name = uuid.uuid4().hex[:12]
    orders = stack.endpoint(
        tenant,
        receiver.url(name),
        description="orders service",
        config={"headers": {"X-Tenant-Token": "t0p-secret"}},
    )
    stack.endpoint(tenant, receiver.url(uuid.uuid4().hex[:12]), description="audit log")
    paid = management(stack, tenant, "POST", "/event-types", name="order.paid")
    management(
        stack, tenant, "POST", f"/endpoints/{orders['id']}/subscriptions", eventTypeIds=[paid["id"]]
    )
    fanned = requests.post(
        f"{stack.base_url}/api/ingest/event/order.paid",
        headers={"Authorization": f"Bearer {tenant.api_key}"},
        json={"payload": {"order": 1001, "lines": [{"sku": "A-1", "qty": i} for i in range(40)]}},
        timeout=10,
    ).json()["deliveryIds"][0]
    for n in range(5):
        send(stack, tenant, orders["id"], key=f"order-{n}")
    assert stack.wait_final(fanned).status == "delivered"

    page = browser.new_page()
    sign_in(page, stack, tenant)
    assert page.is_visible("text=orders service") and page.is_visible("text=audit log")
    page.click("#ranges a:has-text('1 h')")
    page.wait_for_selector("text=Delivery attempts, last 1 h")
    assert re.search(r"\d\d:\d\d", page.inner_text("#time-axis"))
    shot(page, "dashboard")
    page.click("#ranges a:has-text('7 d')")
    page.wait_for_selector("text=Delivery attempts, last 7 d")
    shot(page, "dashboard-7d")

    # The delivery page: event type, payload, the headers as sent (masked), attempts.
    page.goto(f"{stack.base_url}/dashboard/deliveries/{fanned}")
    assert page.inner_text("#event-type") == "order.paid"
    assert '"order": 1001' in page.inner_text("#payload")
    shown = headers_shown(page)
    [received] = [r for r in receiver.received(name) if r.headers["webhook-id"] == fanned]
    assert {k.lower() for k in shown} == {k.lower() for k in received.headers} - {
        "host",
        "content-length",
    }
    assert shown["webhook-signature"] == "v1,••••••" and shown["X-Tenant-Token"] == "••••••"
    assert "t0p-secret" not in page.content() and orders["secret"] not in page.content()
    assert page.locator("tr.attempt").count() == 1
    shot(page, "delivery")
    page.click("#retry")
    page.wait_for_selector("#flash")
    reload_until(page, lambda: page.locator("tr.attempt").count() == 2)
    shot(page, "delivery-retried")

    # Create an endpoint, then send it a test event.
    page.goto(f"{stack.base_url}/dashboard/")
    page.click("#new-endpoint")
    page.fill("#url", receiver.url("console-" + name))
    page.fill("#description", "billing receiver")
    shot(page, "endpoint-new")
    page.click("#add-endpoint button[type=submit]")
    page.wait_for_selector("#test-event")
    page.click("#test-event")
    page.wait_for_selector("#payload")
    assert "hookrelay.test" in page.inner_text("#payload")
    reload_until(page, lambda: page.inner_text("#delivery-status") == "delivered")
    assert receiver.received("console-" + name)
    shot(page, "delivery-test-event")

    # Search by endpoint and status, then retry everything the search shows.
    page.goto(f"{stack.base_url}/dashboard/deliveries")
    page.select_option("select[name=endpoint]", orders["id"])
    page.select_option("select[name=status]", "delivered")
    page.click("#search button[type=submit]")
    page.wait_for_selector("#retry-all")
    assert page.locator("#deliveries tbody tr").count() == 6
    shot(page, "deliveries-search")
    page.click("#retry-all button")
    page.wait_for_selector("text=Retrying 6 deliveries now; 0 could not be retried.")
    shot(page, "deliveries-bulk-retry")

    page.goto(f"{stack.base_url}/dashboard/event-types")
    shot(page, "event-types")
    page.click("a:has-text('order.paid')")
    page.wait_for_selector(f"text={orders['id']}")
    shot(page, "event-type")

    # Applications: create one, give it an endpoint, open its portal link.
    page.goto(f"{stack.base_url}/dashboard/applications")
    page.fill("#add-application input[name=name]", "Acme Inc.")
    page.click("#add-application button[type=submit]")
    page.wait_for_selector("#open-portal")
    page.click("text=Create an endpoint for it")
    page.fill("#url", receiver.url("acme-" + name))
    page.fill("#description", "Acme's webhooks")
    page.click("#add-endpoint button[type=submit]")
    page.wait_for_selector("#test-event")
    page.goto(f"{stack.base_url}/dashboard/applications")
    page.click("a:has-text('Acme Inc.')")
    page.wait_for_selector("text=Acme's webhooks")
    page.click("#open-portal")
    link = page.inner_text("#portal-link a")
    shot(page, "application")
    portal = browser.new_page()
    portal.goto(re.sub(r"^https?://[^/]+", stack.base_url, link))
    portal.wait_for_selector("text=Acme's webhooks")
    page.goto(f"{stack.base_url}/dashboard/applications")
    shot(page, "applications")

    page.goto(f"{stack.base_url}/dashboard/environments")
    page.fill("#add-environment input[name=name]", "Staging")
    page.fill("#add-environment input[name=slug]", "staging")
    page.click("#add-environment button[type=submit]")
    page.wait_for_selector("#visibility")
    page.click("#visibility button:has-text('Publish')")
    page.wait_for_selector("#visibility button:has-text('Hide')")
    shot(page, "environment")
    page.goto(f"{stack.base_url}/dashboard/environments")
    shot(page, "environments")

    # Credentials: a new API key is shown once and works until revoked.
    page.goto(f"{stack.base_url}/dashboard/credentials")
    page.click("#issue-key button[type=submit]")
    key = page.inner_text("#issued-secret")
    shot(page, "credentials-issued")
    ingest = f"{stack.base_url}/api/ingest/{orders['id']}"
    sent = requests.post(
        ingest, headers={"Authorization": f"Bearer {key}"}, json={"payload": {}}, timeout=10
    )
    assert sent.status_code == 202
    page.goto(f"{stack.base_url}/dashboard/credentials")
    assert key not in page.content()
    page.locator("#keys button:has-text('Revoke')").last.click()
    page.wait_for_selector("#flash")
    shot(page, "credentials")
    refused = requests.post(
        ingest, headers={"Authorization": f"Bearer {key}"}, json={"payload": {}}, timeout=10
    )
    assert refused.status_code == 401


@ONE_BACKEND
def test_portal_test_event_and_retry(stack: Stack, receiver: Receiver, browser: Any) -> None:
    tenant = stack.tenant()
    app = management(stack, tenant, "POST", "/applications", name="Globex")
    name = "globex-" + uuid.uuid4().hex[:8]
    endpoint = management(
        stack, tenant, "POST", f"/applications/{app['id']}/endpoints", url=receiver.url(name)
    )

    def portal_link(role: str) -> str:
        opened = management(stack, tenant, "POST", f"/applications/{app['id']}/portal", role=role)
        return re.sub(r"^https?://[^/]+", stack.base_url, opened["url"])

    page = browser.new_page()
    page.goto(portal_link("admin"))
    page.click(f"a:has-text('{endpoint['url']}')")
    page.click("#test-event")
    page.wait_for_selector("#retry")
    reload_until(page, lambda: page.inner_text("#delivery-status") == "delivered")
    shot(page, "portal-test-event")
    page.click("#retry")
    page.wait_for_selector("#flash")
    reload_until(page, lambda: page.locator("tr.attempt").count() == 2)
    assert len(receiver.wait_for(name, 2)) == 2
    shot(page, "portal-retried")

    viewer = browser.new_page()
    viewer.goto(portal_link("viewer"))
    viewer.click(f"a:has-text('{endpoint['url']}')")
    viewer.wait_for_selector("#edit-endpoint")
    assert viewer.locator("#test-event").count() == 0
    viewer.goto(page.url)
    viewer.wait_for_selector("tr.attempt")
    assert viewer.locator("#retry").count() == 0
    shot(viewer, "portal-viewer-delivery")
