"""Operator commands beyond bootstrap: credentials, stuck deliveries, re-drive, purge."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import click
from flask import Flask
from flask.cli import AppGroup

from app.db import utcnow
from app.domain import DELIVERY_STATUSES, REDRIVE_STATUSES
from app.runtime import Runtime
from app.services import credentials, operations
from app.services.errors import ServiceError
from app.services.redelivery import redrive_endpoint

as_json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON.")


def _runtime(app: Flask) -> Runtime:
    rt: Runtime = app.extensions["hookrelay"]
    return rt


def _print_rows(rows: list[dict[str, Any]], as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps(rows, default=str))
        return
    for row in rows:
        click.echo("  ".join(f"{key}={value}" for key, value in row.items()))


def _credential_group(app: Flask, kind: str, title: str) -> AppGroup:
    """`key` and `token` share one shape: create, list, revoke."""
    group = AppGroup(kind, help=f"Manage {title}s.")

    @group.command("create")
    @click.option("--workspace", "workspace_id", required=True)
    @click.option("--environment", "environment_id", help="API keys: default environment if none.")
    @as_json_option
    def create(workspace_id: str, environment_id: str | None, as_json: bool) -> None:
        """Issue a credential and print it (shown only this once)."""
        rt = _runtime(app)
        try:
            with rt.sessions.begin() as session:
                secret = credentials.issue(
                    session, kind, workspace_id, rt.settings.region, environment_id
                )
        except ServiceError as exc:
            raise click.ClickException(exc.message) from exc
        click.echo(json.dumps({kind: secret}) if as_json else secret)

    @group.command("list")
    @click.option("--workspace", "workspace_id", required=True)
    @as_json_option
    def list_(workspace_id: str, as_json: bool) -> None:
        """List ids and prefixes (never the credential itself)."""
        with _runtime(app).sessions() as session:
            rows = credentials.list_credentials(session, kind, workspace_id)
        _print_rows([vars(row) for row in rows], as_json)

    @group.command("revoke")
    @click.argument("reference")
    def revoke(reference: str) -> None:
        """Revoke by id, or by the credential itself; it stops working at once."""
        try:
            with _runtime(app).sessions.begin() as session:
                revoked = credentials.revoke(session, kind, reference, utcnow())
        except ServiceError as exc:
            raise click.ClickException(exc.message) from exc
        click.echo(f"revoked {revoked}")

    return group


def register(app: Flask) -> None:
    app.cli.add_command(_credential_group(app, "key", "API key"))
    app.cli.add_command(_credential_group(app, "token", "management token"))
    deliveries = AppGroup("deliveries", help="Inspect deliveries.")

    @deliveries.command("stuck")
    @click.option("--older-than", default=300.0, show_default=True, help="Seconds overdue.")
    @click.option("--limit", default=100, show_default=True)
    @as_json_option
    def stuck(older_than: float, limit: int, as_json: bool) -> None:
        """List deliveries due that long ago but unclaimed, or held by an expired lease."""
        with _runtime(app).sessions() as session:
            rows = operations.stuck_deliveries(session, utcnow(), older_than, limit)
        _print_rows(
            [
                {
                    "id": d.id,
                    "workspaceId": d.workspace_id,
                    "endpointId": d.endpoint_id,
                    "status": d.status,
                    "attempts": d.attempts,
                    "nextAttemptAt": d.next_attempt_at,
                    "leaseExpiresAt": d.lease_expires_at,
                }
                for d in rows
            ],
            as_json,
        )

    app.cli.add_command(deliveries)

    @app.cli.command("redrive")
    @click.option("--workspace", "workspace_id", required=True)
    @click.option("--endpoint", "endpoint_id", required=True)
    @click.option("--since", required=True, type=click.DateTime(), help="UTC if no offset.")
    @click.option(
        "--status",
        "statuses",
        multiple=True,
        type=click.Choice(DELIVERY_STATUSES),
        help="Repeatable; default failed and dead_letter.",
    )
    def redrive(workspace_id: str, endpoint_id: str, since: datetime, statuses: tuple[str]) -> None:
        """Send an endpoint's failed deliveries again (the scheduler enqueues them)."""
        since = since if since.tzinfo else since.replace(tzinfo=UTC)
        try:
            with _runtime(app).sessions.begin() as session:
                count = redrive_endpoint(
                    session,
                    workspace_id,
                    endpoint_id,
                    since=since,
                    statuses=statuses or REDRIVE_STATUSES,
                    now=utcnow(),
                )
        except ServiceError as exc:
            raise click.ClickException(exc.message) from exc
        click.echo(f"redriven {count}")

    @app.cli.command("purge")
    @click.option("--days", type=float, help="Default: HOOKRELAY_RETENTION_DAYS.")
    @click.option("--batch", default=1000, show_default=True)
    def purge(days: float | None, batch: int) -> None:
        """Delete finished deliveries (and their attempts) older than the retention period."""
        rt = _runtime(app)
        before = utcnow() - timedelta(days=days if days is not None else rt.settings.retention_days)
        removed = operations.purge(rt.sessions, before, batch, max_batches=1_000_000)
        click.echo(f"purged {removed} deliveries created before {before.isoformat()}")
