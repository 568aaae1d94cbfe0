"""Standard Webhooks signing: `webhook-id`, `webhook-timestamp`, `webhook-signature`."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from standardwebhooks import Webhook


def signature_headers(
    secrets: Sequence[str], msg_id: str, timestamp: datetime, body: str
) -> dict[str, str]:
    """Sign `body` with every secret given (two during a rotation), space-separated."""
    signatures = [Webhook(secret).sign(msg_id, timestamp, body) for secret in secrets]
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(timestamp.timestamp())),
        "webhook-signature": " ".join(signatures),
    }
