"""Applications (the workspace's customers), their endpoints, and portal sessions."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.ids import hash_token, new_id
from app.models import Application, Endpoint, PortalSession
from app.services.edits import KEEP, Keep
from app.services.errors import Conflict
from app.services.lookup import lock_owned, owned
from app.services.workspaces import create_endpoint


def create_application(
    session: Session,
    workspace_id: str,
    *,
    name: str,
    external_id: str | None = None,
    metadata: dict[str, str] | None = None,
    max_endpoints: int | None = None,
    show_event_types: bool = True,
) -> Application:
    """The unique (workspace, external id) constraint settles concurrent creations."""
    application = Application(
        id=new_id("app"),
        workspace_id=workspace_id,
        external_id=external_id,
        name=name,
        metadata_=metadata or {},
        max_endpoints=max_endpoints,
        show_event_types=show_event_types,
    )
    try:
        with session.begin_nested():
            session.add(application)
    except IntegrityError as exc:
        raise Conflict(f"an application with externalId '{external_id}' exists") from exc
    return application


def list_applications(
    session: Session, workspace_id: str, limit: int, offset: int
) -> list[Application]:
    return list(
        session.scalars(
            select(Application)
            .where(Application.workspace_id == workspace_id)
            .order_by(Application.id)
            .limit(limit)
            .offset(offset)
        )
    )


def get_application(session: Session, workspace_id: str, application_id: str) -> Application:
    return owned(session, Application, workspace_id, application_id, "Application")


@dataclass(frozen=True)
class ApplicationChange:
    """An edit of an application: each field a new value, or KEEP."""

    name: str | Keep = KEEP
    metadata: dict[str, str] | Keep = KEEP
    max_endpoints: int | Keep | None = KEEP  # None lifts the cap
    show_event_types: bool | Keep = KEEP


def update_application(
    session: Session, workspace_id: str, application_id: str, change: ApplicationChange
) -> Application:
    application = get_application(session, workspace_id, application_id)
    if change.name is not KEEP:
        application.name = change.name
    if change.metadata is not KEEP:
        application.metadata_ = change.metadata
    if change.max_endpoints is not KEEP:
        application.max_endpoints = change.max_endpoints
    if change.show_event_types is not KEEP:
        application.show_event_types = change.show_event_types
    session.flush()
    return application


def delete_application(session: Session, workspace_id: str, application_id: str) -> None:
    """Its endpoints go too (no foreign key there), in the same transaction."""
    application = get_application(session, workspace_id, application_id)
    session.execute(delete(Endpoint).where(Endpoint.application_id == application.id))
    session.delete(application)
    session.flush()


def create_application_endpoint(
    session: Session, workspace_id: str, application_id: str, **endpoint: Any
) -> Endpoint:
    """Create an endpoint unless the cap is reached; the row lock makes the count hold."""
    application = lock_owned(session, Application, workspace_id, application_id, "Application")
    if application.max_endpoints is not None:
        count = session.scalar(
            select(func.count()).where(Endpoint.application_id == application.id)
        )
        if (count or 0) >= application.max_endpoints:
            raise Conflict(f"application allows at most {application.max_endpoints} endpoints")
    return create_endpoint(session, workspace_id, application_id=application.id, **endpoint)


@dataclass(frozen=True)
class IssuedPortalSession:
    code: str
    expires_at: datetime


def create_portal_session(
    session: Session,
    workspace_id: str,
    application_id: str,
    *,
    role: str,
    metadata: dict[str, str] | None,
    ttl: timedelta,
    now: datetime,
) -> IssuedPortalSession:
    """Issue a one-time code; like every credential, only its hash is stored."""
    application = get_application(session, workspace_id, application_id)
    code = secrets.token_urlsafe(32)
    expires_at = now + ttl
    session.add(
        PortalSession(
            id=new_id("pts"),
            application_id=application.id,
            code_hash=hash_token(code),
            role=role,
            metadata_=metadata or {},
            expires_at=expires_at,
            created_at=now,
        )
    )
    session.flush()
    return IssuedPortalSession(code, expires_at)
