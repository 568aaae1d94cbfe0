"""Operator actions on credentials: issue API keys and management tokens, list, revoke."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from app.ids import hash_token
from app.models import ApiKey, Environment, ManagementToken, Workspace
from app.services.errors import NotFound
from app.services.workspaces import default_environment, issue_api_key, issue_management_token

KINDS: dict[str, type[ApiKey] | type[ManagementToken]] = {
    "key": ApiKey,
    "token": ManagementToken,
}


@dataclass(frozen=True)
class CredentialRow:
    id: str
    workspace_id: str
    prefix: str
    created_at: datetime
    revoked_at: datetime | None


def _workspace(session: Session, workspace_id: str) -> Workspace:
    workspace = session.get(Workspace, workspace_id)
    if workspace is None:
        raise NotFound("Workspace")
    return workspace


def issue(session: Session, kind: str, workspace_id: str, region: str, env: str | None) -> str:
    """Issue a credential of `kind` and return it; it is shown once and stored hashed."""
    _workspace(session, workspace_id)
    if kind == "token":
        return issue_management_token(session, workspace_id)
    if env is None:
        environment = default_environment(session, workspace_id)
    else:
        found = session.get(Environment, env)
        if found is None or found.workspace_id != workspace_id:
            raise NotFound("Environment")
        environment = found
    return issue_api_key(session, workspace_id, environment.id, region)


def list_credentials(session: Session, kind: str, workspace_id: str) -> list[CredentialRow]:
    """The workspace's credentials of `kind`, oldest first, revoked ones included."""
    model = KINDS[kind]
    # The columns, not the entity: mypy joins the two models' entity types into `Base`.
    rows = session.execute(
        select(model.id, model.workspace_id, model.prefix, model.created_at, model.revoked_at)
        .where(model.workspace_id == workspace_id)
        .order_by(model.created_at)
    )
    return [CredentialRow(*row) for row in rows]


def revoke(session: Session, kind: str, reference: str, now: datetime) -> str:
    """Revoke by id or by the credential itself; return the id. Revoking twice is harmless."""
    model = KINDS[kind]
    column = model.token_hash if reference.startswith(("nhk_", "nhm_")) else model.id
    value = hash_token(reference) if column is model.token_hash else reference
    found = session.scalar(select(model.id).where(column == value))
    if found is None:
        raise NotFound("Credential")
    session.execute(
        update(model).where(model.id == found, model.revoked_at.is_(None)).values(revoked_at=now)
    )
    return found
