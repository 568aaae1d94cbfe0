"""The outbound request of one attempt, per destination type (signed webhook, Slack)."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from app.config import Settings
from app.domain import DestinationType
from app.sender import OutboundRequest
from app.services.endpoints import signing_secrets
from app.services.leases import Claim
from app.signing import signature_headers


def build_request(claim: Claim, settings: Settings, now: datetime) -> OutboundRequest:
    """The signed POST for this attempt; `webhook-id` is the delivery id, stable across retries."""
    endpoint = claim.endpoint
    config: dict[str, Any] = endpoint.config or {}
    headers = {str(k): str(v) for k, v in (config.get("headers") or {}).items()}
    headers["Content-Type"] = "application/json"
    body = claim.payload
    if endpoint.type == DestinationType.SLACK:
        body = _slack_body(body)
    else:
        headers.update(
            signature_headers(signing_secrets(endpoint, now), claim.delivery_id, now, body)
        )
    timeout = settings.delivery_timeout
    if isinstance(config.get("timeout"), int | float) and config["timeout"] > 0:
        timeout = min(float(config["timeout"]), settings.delivery_timeout)
    auth = None
    if endpoint.auth_username is not None:
        auth = (endpoint.auth_username, endpoint.auth_password or "")
    return OutboundRequest(endpoint.url, body.encode(), headers, auth, timeout)


def _slack_body(payload: str) -> str:
    """Slack incoming webhooks want `text` or `blocks`; anything else is shown as JSON text."""
    data = json.loads(payload)
    if "text" in data or "blocks" in data:
        return payload
    return json.dumps({"text": f"```{json.dumps(data, indent=2)}```"})
