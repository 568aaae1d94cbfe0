"""A test event: a small fixed payload sent to one endpoint through the normal ingest path."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from app.db import iso
from app.models import Endpoint
from app.services.auth import Caller
from app.services.ingest import IngestItem, ingest
from app.services.lookup import owned

TEST_EVENT_TYPE = "hookrelay.test"


def send_test_event(
    session: Session, workspace_id: str, endpoint_id: str, *, max_payload_bytes: int, now: datetime
) -> str:
    """Store a test delivery for the endpoint and return its id; the caller publishes it."""
    endpoint = owned(session, Endpoint, workspace_id, endpoint_id, "Endpoint")
    # Ingest is scoped by an API key's environment; the endpoint's own one is the same scope.
    scope = Caller(
        id="test-event", workspace_id=workspace_id, environment_id=endpoint.environment_id
    )
    payload = {
        "type": TEST_EVENT_TYPE,
        "timestamp": iso(now),
        "data": {"endpointId": endpoint.id, "message": "A test event sent from hookrelay."},
    }
    item = IngestItem(0, endpoint.id, payload, event_type=TEST_EVENT_TYPE)
    [outcome] = ingest(
        session.connection(),
        scope,
        [item],
        max_payload_bytes=max_payload_bytes,
        now=now,
        endpoints={endpoint.id},
    )
    if outcome.error is not None:
        raise outcome.error
    return str(outcome.delivery_id)
