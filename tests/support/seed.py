"""Rows for tests that start below the API: a workspace's endpoint and its deliveries."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from app.db import utcnow
from app.models import ApiKey
from app.services.ingest import IngestItem, ingest
from app.services.workspaces import create_endpoint, create_workspace


def endpoint(sessions: sessionmaker[Session], url: str, **fields: Any) -> tuple[ApiKey, str]:
    """A new workspace with one endpoint at `url` (other columns from `fields`)."""
    with sessions.begin() as session:
        created = create_workspace(session, "t", "us")
        row = create_endpoint(session, created.workspace_id, url, allow_private=True)
        for name, value in fields.items():
            setattr(row, name, value)
        key = session.query(ApiKey).filter_by(workspace_id=created.workspace_id).one()
        return key, row.id


def deliveries(
    sessions: sessionmaker[Session], key: ApiKey, endpoint_id: str, *payloads: dict[str, Any]
) -> list[str]:
    """One delivery per payload, accepted a second ago (so due now)."""
    with sessions.begin() as session:
        outcomes = ingest(
            session.connection(),
            key,
            [IngestItem(i, endpoint_id, payload) for i, payload in enumerate(payloads)],
            max_payload_bytes=10_000,
            now=utcnow() - timedelta(seconds=1),
        )
    return [o.delivery_id for o in outcomes if o.delivery_id]
