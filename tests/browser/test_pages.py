"""The dashboard and the portal in a real browser against the Procfile's processes.

Screenshots are kept under artifacts/screenshots/ for whoever looks at a run.
"""

from __future__ import annotations

import re
import time
import uuid
from typing import Any

import pytest
import requests

from tests.browser.conftest import SCREENSHOTS
from tests.support.receiver import Receiver
from tests.support.stack import Stack, Tenant

pytestmark = [pytest.mark.integration, pytest.mark.browser]
ONE_BACKEND = pytest.mark.parametrize("stack", ["sqlite"], indirect=True)


def send(stack: Stack, tenant: Tenant, endpoint_id: str, key: str | None = None) -> str:
    body: dict[str, Any] = {"payload": {"order": uuid.uuid4().hex[:6]}}
    if key:
        body["idempotencyKey"] = key
    response = requests.post(
        f"{stack.base_url}/api/ingest/{endpoint_id}",
        headers={"Authorization": f"Bearer {tenant.api_key}"},
        json=body,
        timeout=10,
    )
    assert response.status_code == 202, response.text
    return str(response.json()["deliveryId"])


def management(stack: Stack, tenant: Tenant, method: str, path: str, **body: Any) -> Any:
    response = stack.management(tenant, method, f"{tenant.workspace_id}{path}", body)
    assert response.ok, response.text
    return response.json() if response.content else None


def shot(page: Any, name: str) -> None:
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


@ONE_BACKEND
def test_dashboard_sign_in_pages_and_retry(stack: Stack, receiver: Receiver, browser: Any) -> None:
    tenant = stack.tenant()
    healthy = stack.endpoint(tenant, receiver.url(uuid.uuid4().hex[:12]), description="orders")
    flaky = stack.endpoint(tenant, receiver.url(uuid.uuid4().hex[:12], fail=4))
    for n in range(6):
        send(stack, tenant, healthy["id"], key=f"order-{n}")
    failing = send(stack, tenant, flaky["id"])
    assert stack.wait_final(failing).status == "dead_letter"  # four failed attempts

    page = browser.new_page()
    page.goto(f"{stack.base_url}/dashboard/")
    page.fill("#token", tenant.management_token)
    page.click("button[type=submit]")
    page.wait_for_selector(f"text={healthy['id']}")
    assert page.is_visible(f"text={flaky['id']}")
    shot(page, "dashboard")

    page.goto(f"{stack.base_url}/dashboard/deliveries?q={failing}")
    page.wait_for_selector(f"a:has-text('{failing}')")
    shot(page, "deliveries")
    page.click(f"a:has-text('{failing}')")
    page.wait_for_selector("#retry")
    assert page.locator("tr.attempt").count() == 4
    shot(page, "delivery-before-retry")

    page.click("#retry")
    deadline = time.monotonic() + 30
    while page.locator("tr.attempt").count() < 5 and time.monotonic() < deadline:
        time.sleep(0.5)
        page.reload()
    assert page.locator("tr.attempt").count() == 5  # the retry's attempt, shown on the page
    assert page.inner_text("#delivery-status") == "delivered"
    shot(page, "delivery-after-retry")

    page.goto(f"{stack.base_url}/dashboard/endpoints/{healthy['id']}")
    page.click("#secret summary")
    assert page.inner_text("#secret code") == healthy["secret"]
    page.click("#rotate")
    page.click("#secret summary")
    assert page.inner_text("#secret code").startswith("whsec_")
    assert page.inner_text("#secret code") != healthy["secret"]
    page.click("#disable")
    page.wait_for_selector("#enable")
    shot(page, "endpoint")


@ONE_BACKEND
def test_portal_code_opens_the_application_once(
    stack: Stack, receiver: Receiver, browser: Any
) -> None:
    tenant = stack.tenant()
    app = management(stack, tenant, "POST", "/applications", name="Acme Inc.")
    event_type = management(stack, tenant, "POST", "/event-types", name="invoice.paid")
    management(
        stack,
        tenant,
        "PUT",
        f"/environments/{tenant.environment_id}/event-types/{event_type['id']}/visibility",
        published=True,
    )
    session = management(stack, tenant, "POST", f"/applications/{app['id']}/portal")
    url = re.sub(r"^https?://[^/]+", stack.base_url, session["url"])

    page = browser.new_page()
    page.goto(url)
    page.wait_for_selector("text=Acme Inc.")
    page.fill("#add-endpoint input[name=url]", receiver.url("portal-" + uuid.uuid4().hex[:8]))
    page.fill("#add-endpoint input[name=description]", "billing")
    page.check(f"input[value='{event_type['id']}']")
    page.click("#add-endpoint button[type=submit]")
    page.wait_for_selector("#flash")
    assert page.is_checked(f"input[value='{event_type['id']}']")
    triggered = requests.post(
        f"{stack.base_url}/api/ingest/event/invoice.paid",
        headers={"Authorization": f"Bearer {tenant.api_key}"},
        json={"payload": {"invoice": 7}},
        timeout=10,
    )
    [delivery_id] = triggered.json()["deliveryIds"]
    assert stack.wait_final(delivery_id).status == "delivered"
    page.goto(f"{stack.base_url}/portal/")
    page.wait_for_selector("text=billing")
    shot(page, "portal")
    page.click(f"a:has-text('{delivery_id}')")
    page.wait_for_selector("tr.attempt")
    assert "succeeded" in page.inner_text("tr.attempt")
    shot(page, "portal-delivery")

    again = browser.new_page()
    again.goto(url)
    assert again.is_visible("text=This link can no longer be used")
    shot(again, "portal-reused-code")
