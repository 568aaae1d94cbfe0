"""Dashboard page for API keys and management tokens: issue (shown once) and revoke."""

from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from app.api.context import runtime
from app.db import utcnow
from app.services import credentials
from app.services.environments import list_environments
from app.services.lookup import owned
from app.web.dashboard import bp, signed_in

KIND = "<any(key, token):kind>"


def _page(issued: tuple[str, str] | None = None) -> str:
    with signed_in() as (db, workspace_id):
        return render_template(
            "dashboard/credentials.html",
            workspace_id=workspace_id,
            keys=credentials.list_credentials(db, "key", workspace_id),
            tokens=credentials.list_credentials(db, "token", workspace_id),
            environments=list_environments(db, workspace_id),
            issued=issued,
        )


@bp.get("/credentials")
def list_credentials() -> str:
    return _page()


@bp.post(f"/credentials/{KIND}")
def issue_credential(kind: str) -> str:
    """Show the new secret in this response only: it is stored hashed and never shown again."""
    environment_id = request.form.get("environment") or None
    region = runtime().settings.region
    with signed_in() as (db, workspace_id):
        secret = credentials.issue(db, kind, workspace_id, region, environment_id)
    return _page(issued=(kind, secret))


@bp.post(f"/credentials/{KIND}/<credential_id>/revoke")
def revoke_credential(kind: str, credential_id: str) -> Response:
    with signed_in() as (db, workspace_id):
        # `revoke` finds credentials across workspaces; only this workspace's may be revoked.
        owned(db, credentials.KINDS[kind], workspace_id, credential_id, "Credential")
        credentials.revoke(db, kind, credential_id, utcnow())
    flash(f"{'API key' if kind == 'key' else 'Management token'} {credential_id} revoked.")
    return redirect(url_for("dashboard.list_credentials"))
