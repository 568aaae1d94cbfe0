"""Managing a workspace's endpoints: edit, delete, rotate the secret, disable and enable."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.ids import new_endpoint_secret
from app.models import Endpoint
from app.services.edits import KEEP, Keep
from app.services.lookup import owned
from app.services.workspaces import vet_url

DISABLED_BY_OPERATOR = "disabled through the management API"


def list_endpoints(
    session: Session, workspace_id: str, application_id: str | None = None
) -> list[Endpoint]:
    """Oldest first; workspace-wide, or only one application's."""
    stmt = select(Endpoint).where(Endpoint.workspace_id == workspace_id)
    if application_id is not None:
        stmt = stmt.where(Endpoint.application_id == application_id)
    return list(session.scalars(stmt.order_by(Endpoint.id)))


@dataclass(frozen=True)
class EndpointChange:
    """An edit of an endpoint: each field a new value, or KEEP; None clears a field."""

    url: str | Keep = KEEP
    description: str | Keep | None = KEEP
    metadata: dict[str, str] | Keep = KEEP
    is_active: bool | Keep = KEEP
    max_in_flight: int | Keep | None = KEEP  # None: the server default
    rate_limit: float | Keep | None = KEEP  # deliveries per second; None: unlimited


def update_endpoint(
    session: Session,
    workspace_id: str,
    endpoint_id: str,
    change: EndpointChange,
    *,
    allow_private: bool,
    allow_metadata: bool = False,
) -> Endpoint:
    """Apply `change`; a new URL is vetted like a new endpoint's."""
    endpoint = owned(session, Endpoint, workspace_id, endpoint_id, "Endpoint")
    if change.url is not KEEP:
        vet_url(change.url, allow_private=allow_private, allow_metadata=allow_metadata)
        endpoint.url = change.url
    if change.description is not KEEP:
        endpoint.description = change.description
    if change.metadata is not KEEP:
        endpoint.metadata_ = change.metadata
    if change.is_active is not KEEP:
        set_active(endpoint, change.is_active)
    if change.max_in_flight is not KEEP:
        endpoint.max_in_flight = change.max_in_flight
    if change.rate_limit is not KEEP:
        endpoint.rate_limit = change.rate_limit
    session.flush()
    return endpoint


def set_active(endpoint: Endpoint, active: bool) -> None:
    """Disabled endpoints fail their deliveries without a request until enabled again."""
    endpoint.is_active = active
    endpoint.disabled_reason = None if active else DISABLED_BY_OPERATOR
    if active:
        endpoint.failing_since = None  # the sustained-failure clock starts again


def toggle_endpoint(
    session: Session, workspace_id: str, endpoint_id: str, active: bool
) -> Endpoint:
    endpoint = owned(session, Endpoint, workspace_id, endpoint_id, "Endpoint")
    set_active(endpoint, active)
    session.flush()
    return endpoint


def delete_endpoint(session: Session, workspace_id: str, endpoint_id: str) -> None:
    """Its subscriptions and deliveries go with it (foreign keys cascade)."""
    session.delete(owned(session, Endpoint, workspace_id, endpoint_id, "Endpoint"))
    session.flush()


def rotate_secret(
    session: Session, workspace_id: str, endpoint_id: str, grace: timedelta, now: datetime
) -> Endpoint:
    """Issue a new secret; the old one keeps signing for `grace` so receivers can switch over."""
    endpoint = owned(session, Endpoint, workspace_id, endpoint_id, "Endpoint")
    endpoint.previous_secret = endpoint.secret
    endpoint.previous_secret_expires_at = now + grace
    endpoint.secret = new_endpoint_secret()
    session.flush()
    return endpoint


class HasSecrets(Protocol):
    """An endpoint as stored, or as the worker reads it with a claim."""

    @property
    def secret(self) -> str: ...
    @property
    def previous_secret(self) -> str | None: ...
    @property
    def previous_secret_expires_at(self) -> datetime | None: ...


def signing_secrets(endpoint: HasSecrets, now: datetime) -> list[str]:
    """The current secret, plus the previous one while its grace period lasts."""
    secrets = [endpoint.secret]
    expires = endpoint.previous_secret_expires_at
    if endpoint.previous_secret and expires is not None and expires > now:
        secrets.append(endpoint.previous_secret)
    return secrets
