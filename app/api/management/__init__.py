"""Management API under `/management/v1/workspaces/{workspaceId}`, for management tokens."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from flask import Blueprint, request
from sqlalchemy.orm import Session

from app.api.context import read_json, runtime
from app.errors import not_found
from app.services.auth import authenticate_management_token, bearer_token

bp = Blueprint("management", __name__, url_prefix="/management/v1/workspaces/<workspace_id>")
NO_CONTENT = ("", 204)


@contextmanager
def workspace_session(workspace_id: str) -> Iterator[Session]:
    """One transaction for a token of `workspace_id`; another workspace's token gets a 404.

    A 404, not a 403, so a token never learns whether another workspace exists. Views parse
    their input inside it, so a bad credential is a 401 before any 400, and a 429 (the
    token's management limit) comes before any 400 too.
    """
    token = bearer_token(request.headers.get("Authorization"))
    with runtime().sessions.begin() as session:
        found = authenticate_management_token(session, token)
        if found.workspace_id != workspace_id:
            raise not_found("Workspace")
        runtime().rate_limits().management(found.id)
        yield session


def optional_json() -> Any:
    """Bodies of operator actions are optional: no body means every default."""
    return read_json() if request.get_data(cache=True) else {}


def destinations() -> dict[str, bool]:
    """The keyword arguments that say which destination addresses may be saved."""
    settings = runtime().settings
    return {
        "allow_private": settings.allow_private_destinations,
        "allow_metadata": settings.allow_metadata_destinations,
    }


def register_routes() -> None:
    """Import the route modules, which attach their views to `bp`."""
    from app.api.management import (  # noqa: F401
        applications,
        batch,
        deliveries,
        endpoints,
        environments,
        event_types,
    )
