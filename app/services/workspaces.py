"""Creating tenants and what they need to start: environment, credentials, endpoints."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.domain import DestinationType
from app.ids import (
    hash_token,
    new_api_key,
    new_endpoint_secret,
    new_id,
    new_management_token,
)
from app.models import ApiKey, Endpoint, Environment, ManagementToken, Workspace
from app.sender import DestinationRefused, check_destination
from app.services.errors import Invalid, NotFound
from app.services.lookup import owned


@dataclass(frozen=True)
class Bootstrap:
    workspace_id: str
    environment_id: str
    api_key: str
    management_token: str


def create_workspace(session: Session, name: str, region: str) -> Bootstrap:
    """Create a workspace with its default environment, one API key and one management token."""
    workspace = Workspace(id=new_id("ws"), name=name)
    session.add(workspace)
    session.flush()  # no ORM relationships, so parents are flushed before children
    environment = Environment(
        id=new_id("env"),
        workspace_id=workspace.id,
        name="Production",
        slug="production",
        is_default=True,
    )
    session.add(environment)
    session.flush()
    api_key = issue_api_key(session, workspace.id, environment.id, region)
    token = issue_management_token(session, workspace.id)
    return Bootstrap(workspace.id, environment.id, api_key, token)


def issue_api_key(session: Session, workspace_id: str, environment_id: str, region: str) -> str:
    """Create an API key and return the token; it is shown this once and stored hashed."""
    token = new_api_key(region)
    session.add(
        ApiKey(
            id=new_id("key"),
            workspace_id=workspace_id,
            environment_id=environment_id,
            token_hash=hash_token(token),
            prefix=token[:10],
        )
    )
    return token


def issue_management_token(session: Session, workspace_id: str) -> str:
    token = new_management_token()
    session.add(
        ManagementToken(
            id=new_id("mtk"),
            workspace_id=workspace_id,
            token_hash=hash_token(token),
            prefix=token[:8],
        )
    )
    return token


def default_environment(session: Session, workspace_id: str) -> Environment:
    env = session.scalar(
        select(Environment).where(
            Environment.workspace_id == workspace_id, Environment.is_default.is_(True)
        )
    )
    if env is None:
        raise NotFound("Workspace")
    return env


def create_endpoint(
    session: Session,
    workspace_id: str,
    url: str,
    *,
    allow_private: bool,
    allow_metadata: bool = False,
    environment_id: str | None = None,
    config: dict[str, Any] | None = None,
    auth: tuple[str, str] | None = None,
    type_: str = DestinationType.WEBHOOK,
    description: str | None = None,
    metadata: dict[str, str] | None = None,
    application_id: str | None = None,
    max_in_flight: int | None = None,
    rate_limit: float | None = None,
) -> Endpoint:
    """Create an endpoint after vetting its URL (the sender vets it again at send time)."""
    vet_url(url, allow_private=allow_private, allow_metadata=allow_metadata)
    if environment_id is None:
        env_id = default_environment(session, workspace_id).id
    else:
        env_id = owned(session, Environment, workspace_id, environment_id, "Environment").id
    endpoint = Endpoint(
        id=new_id("ep"),
        workspace_id=workspace_id,
        environment_id=env_id,
        url=url,
        description=description,
        type=type_,
        config=config or {},
        metadata_=metadata or {},
        application_id=application_id,
        secret=new_endpoint_secret(),
        auth_username=auth[0] if auth else None,
        auth_password=auth[1] if auth else None,
        is_active=True,
        max_in_flight=max_in_flight,
        rate_limit=rate_limit,
    )
    session.add(endpoint)
    session.flush()
    return endpoint


CREDENTIALS_IN_URL = (
    "url: must not carry credentials (user:password@); send them as authUsername and authPassword"
)


def vet_url(url: str, *, allow_private: bool, allow_metadata: bool = False) -> None:
    """Refuse destinations the sender would refuse, naming the field."""
    # A URL is shown in API answers, pages, logs and error messages; a password in it would be
    # too, so credentials go in the encrypted authPassword instead.
    if "@" in urlsplit(url).netloc:
        raise Invalid(CREDENTIALS_IN_URL)
    try:
        check_destination(url, allow_private=allow_private, allow_metadata=allow_metadata)
    except DestinationRefused as exc:
        raise Invalid(f"url: {exc}") from exc
