"""The outbound request per destination type: a signed webhook, or a Slack message."""

from __future__ import annotations

import base64
import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from standardwebhooks import Webhook

from app.config import Settings
from app.services.destination import Destination
from app.services.leases import Claim
from app.services.outbound import build_request

NOW = datetime(2026, 1, 1, 12, tzinfo=UTC)
SECRET = "whsec_" + base64.b64encode(b"current-secret-of-32-bytes------").decode()
PREVIOUS = "whsec_" + base64.b64encode(b"previous-secret-of-32-bytes-----").decode()
SETTINGS = Settings.from_env({"DATABASE_URL": "sqlite://", "HOOKRELAY_DELIVERY_TIMEOUT": "10"})
WEBHOOK = Destination(
    id="ep_1",
    workspace_id="ws_1",
    url="https://example.com/hook",
    type="webhook",
    config=None,
    secret=SECRET,
    previous_secret=None,
    previous_secret_expires_at=None,
    auth_username=None,
    auth_password=None,
    is_active=True,
)


def _claim(payload: Any, **endpoint: Any) -> Claim:
    return Claim("del_1", "w", 1, json.dumps(payload), replace(WEBHOOK, **endpoint))


def _verified(secret: str, request: Any) -> object:
    return Webhook(secret).verify(request.body, request.headers)


def test_a_webhook_is_the_payload_signed_with_the_delivery_id() -> None:
    request = build_request(_claim({"order": 1}), SETTINGS, NOW)

    assert request.url == "https://example.com/hook"
    assert json.loads(request.body) == {"order": 1}
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["webhook-id"] == "del_1"
    assert request.headers["webhook-timestamp"] == str(int(NOW.timestamp()))
    assert (request.auth, request.timeout) == (None, 10.0)
    # standardwebhooks refuses a timestamp far from now; sign again for now to compare.
    fresh = build_request(_claim({"order": 1}), SETTINGS, datetime.now(UTC))
    assert _verified(SECRET, fresh) == {"order": 1}


def test_during_a_rotation_both_secrets_sign_until_the_old_one_expires() -> None:
    now = datetime.now(UTC)
    rotating = {"previous_secret": PREVIOUS, "previous_secret_expires_at": now + timedelta(1)}

    both = build_request(_claim({}, **rotating), SETTINGS, now)
    after = build_request(_claim({}, **rotating), SETTINGS, now + timedelta(days=2))

    assert len(both.headers["webhook-signature"].split(" ")) == 2
    assert _verified(SECRET, both) == {} and _verified(PREVIOUS, both) == {}
    assert len(after.headers["webhook-signature"].split(" ")) == 1


def test_configured_headers_auth_and_a_shorter_timeout_are_applied() -> None:
    claim = _claim(
        {},
        config={"headers": {"X-Tenant": "acme"}, "timeout": 3},
        auth_username="user",
        auth_password="pass",
    )

    request = build_request(claim, SETTINGS, NOW)

    assert request.headers["X-Tenant"] == "acme"
    assert request.auth == ("user", "pass")
    assert request.timeout == 3.0
    longer = build_request(_claim({}, config={"timeout": 60}), SETTINGS, NOW)
    assert longer.timeout == 10.0  # never past the server's delivery timeout


def test_slack_gets_an_unsigned_message_with_the_payload_as_json_text() -> None:
    payload = {"event": "order.paid", "amount": 12}

    request = build_request(_claim(payload, type="slack"), SETTINGS, NOW)

    assert json.loads(request.body) == {"text": f"```{json.dumps(payload, indent=2)}```"}
    assert request.headers == {"Content-Type": "application/json"}


def test_slack_payloads_with_text_or_blocks_are_sent_as_they_are() -> None:
    for payload in ({"text": "hello"}, {"blocks": [{"type": "divider"}]}):
        claim = _claim(payload, type="slack")

        request = build_request(claim, SETTINGS, NOW)

        assert request.body == claim.payload.encode()
