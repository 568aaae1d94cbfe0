"""Operator commands: `flask --app app bootstrap`, `workspace create`, `endpoint create`, and
the operations commands of `app.cli_ops`."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import click
from flask import Flask
from flask.cli import AppGroup

from app import cli_ops
from app.runtime import Runtime
from app.schemas.responses import EndpointOut
from app.services.workspaces import create_endpoint, create_workspace


def _runtime(app: Flask) -> Runtime:
    rt: Runtime = app.extensions["hookrelay"]
    return rt


def _emit(data: dict[str, Any], as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps(data))
    else:
        for key, value in data.items():
            click.echo(f"{key}: {value}")


def write_private(path: Path, text: str) -> None:
    """Write credentials readable by their owner only, even for a moment."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)  # a file that existed keeps its mode through O_CREAT
    with os.fdopen(fd, "w") as out:
        out.write(text)


def register(app: Flask) -> None:
    workspace = AppGroup("workspace", help="Manage workspaces.")

    @app.cli.command("bootstrap")
    @click.option("--name", default="Default workspace", show_default=True)
    @click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
    @click.option(
        "--output",
        type=click.Path(dir_okay=False, path_type=Path),
        help="Write the JSON object to this file (mode 0600) instead of printing it.",
    )
    def bootstrap(name: str, as_json: bool, output: Path | None) -> None:
        """Create a workspace, its default environment, an API key and a management token."""
        rt = _runtime(app)
        with rt.sessions.begin() as session:
            created = create_workspace(session, name, rt.settings.region)
        data = {
            "workspaceId": created.workspace_id,
            "environmentId": created.environment_id,
            "apiKey": created.api_key,
            "managementToken": created.management_token,
        }
        if output is None:
            _emit(data, as_json)
        else:
            write_private(output, json.dumps(data) + "\n")

    endpoint = AppGroup("endpoint", help="Manage endpoints.")

    @endpoint.command("create")
    @click.option("--workspace", "workspace_id", required=True, help="Workspace id (ws_...).")
    @click.option("--url", required=True, help="http(s) URL that receives the webhooks.")
    @click.option("--description")
    @click.option("--timeout", type=float, help="Per-attempt timeout in seconds.")
    @click.option("--json", "as_json", is_flag=True, help="Print the Endpoint object as JSON.")
    def create(
        workspace_id: str, url: str, description: str | None, timeout: float | None, as_json: bool
    ) -> None:
        """Create an endpoint and print it, signing secret included."""
        from app.services.errors import ServiceError

        rt = _runtime(app)
        config = {"timeout": timeout} if timeout else {}
        try:
            with rt.sessions.begin() as session:
                created = create_endpoint(
                    session,
                    workspace_id,
                    url,
                    config=config,
                    description=description,
                    allow_private=rt.settings.allow_private_destinations,
                    allow_metadata=rt.settings.allow_metadata_destinations,
                )
                data = EndpointOut.from_row(created).body()
        except ServiceError as exc:
            raise click.ClickException(exc.message) from exc
        _emit(data, as_json)

    app.cli.add_command(endpoint)

    @app.cli.command("rotate-encryption-key")
    def rotate_encryption_key() -> None:
        """Re-encrypt stored secrets under the first key of HOOKRELAY_ENCRYPTION_KEYS."""
        from app.services.encryption import reencrypt_all

        with _runtime(app).sessions.begin() as session:
            changed = reencrypt_all(session)
        click.echo(f"re-encrypted {changed} values")

    workspace.add_command(bootstrap, "create")
    app.cli.add_command(workspace)
    cli_ops.register(app)
