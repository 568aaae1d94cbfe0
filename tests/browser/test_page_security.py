"""The pages work in a real browser under their own Content-Security-Policy, and refuse frames."""

from __future__ import annotations

import re
import uuid
from typing import Any

import pytest

from tests.support.receiver import Receiver
from tests.support.stack import Stack

pytestmark = [pytest.mark.integration, pytest.mark.browser]


def watched_page(browser: Any) -> tuple[Any, list[str]]:
    """A page and the browser's console errors (where Chromium reports CSP refusals)."""
    page = browser.new_page()
    errors: list[str] = []
    page.on("console", lambda message: errors.append(message.text))
    return page, errors


@pytest.mark.parametrize("stack", ["sqlite"], indirect=True)
def test_pages_render_under_their_policy_and_refuse_framing(
    stack: Stack, receiver: Receiver, browser: Any
) -> None:
    tenant = stack.tenant()
    endpoint = stack.endpoint(tenant, receiver.url(uuid.uuid4().hex[:12]))
    app = stack.management(tenant, "POST", f"{tenant.workspace_id}/applications", {"name": "Acme"})
    portal = stack.management(
        tenant, "POST", f"{tenant.workspace_id}/applications/{app.json()['id']}/portal", {}
    ).json()
    page, errors = watched_page(browser)

    page.goto(f"{stack.base_url}/dashboard/login")
    card = page.locator(".card").first
    assert card.evaluate("e => getComputedStyle(e).maxWidth") == "460px"  # a style attribute
    page.fill("#token", tenant.management_token)
    page.click("button[type=submit]")
    page.wait_for_selector(f"text={endpoint['id']}")
    for path in ("/dashboard/", "/dashboard/deliveries", f"/dashboard/endpoints/{endpoint['id']}"):
        page.goto(stack.base_url + path)
        header = page.locator("header")
        assert header.evaluate("e => getComputedStyle(e).backgroundColor") == "rgb(16, 24, 40)"
    page.goto(portal["url"])
    page.wait_for_selector("text=Acme")
    assert page.locator("header").evaluate("e => getComputedStyle(e).display") == "flex"
    assert not [e for e in errors if re.search("Content Security Policy", e, re.I)], errors

    framer, _ = watched_page(browser)
    framer.set_content(f'<iframe src="{stack.base_url}/dashboard/login"></iframe>')
    framer.wait_for_timeout(1000)
    [frame] = [f for f in framer.frames if f != framer.main_frame]
    assert frame.query_selector("#token") is None  # the browser would not show it in a frame
