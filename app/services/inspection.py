"""What the delivery page shows of a delivery: the payload, and the request as it was sent.

The headers are rebuilt with the worker's own `build_request`, so the page cannot drift from
what receivers get; every secret in them is masked before it reaches a template.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, fields
from datetime import datetime

from app.config import Settings
from app.models import Delivery, Endpoint
from app.sender import BASE_HEADERS
from app.services.delivering import Claim, Destination, build_request

MASK = "••••••"
PREVIEW_CHARS = 4000


@dataclass(frozen=True)
class Payload:
    text: str  # pretty-printed JSON, or the stored text when it is not JSON
    truncated: bool

    @property
    def preview(self) -> str:
        return self.text[:PREVIEW_CHARS]


def payload(delivery: Delivery) -> Payload:
    """The payload indented for reading; long ones say so, and the page offers the rest."""
    try:
        text = json.dumps(json.loads(delivery.payload), indent=2, ensure_ascii=False)
    except ValueError:
        text = delivery.payload
    return Payload(text, len(text) > PREVIEW_CHARS)


def sent_headers(
    delivery: Delivery, endpoint: Endpoint, settings: Settings, at: datetime
) -> list[tuple[str, str]]:
    """The headers an attempt at `at` sent, with the signature and custom values masked."""
    destination = Destination(**{f.name: getattr(endpoint, f.name) for f in fields(Destination)})
    claim = Claim(delivery.id, "", delivery.attempts, delivery.payload, destination)
    request = build_request(claim, settings, at)
    custom = {str(name).lower() for name in (endpoint.config or {}).get("headers") or {}}
    custom.discard("content-type")  # the sender always sets its own
    shown = []
    for name, value in {**BASE_HEADERS, **request.headers}.items():  # merged as the sender does
        if name.lower() == "webhook-signature":
            value = " ".join(f"{sig.split(',', 1)[0]},{MASK}" for sig in value.split())
        elif name.lower() in custom:
            value = MASK
        shown.append((name, value))
    if request.auth is not None:
        shown.append(("Authorization", f"Basic {MASK}"))
    return shown
