"""Request helpers shared by the blueprints."""

from __future__ import annotations

import json
from typing import Any

from flask import current_app, request
from sqlalchemy import text
from sqlalchemy.orm import Session

from app.errors import invalid
from app.runtime import Runtime


def runtime() -> Runtime:
    rt: Runtime = current_app.extensions["hookrelay"]
    return rt


def read_json() -> Any:
    """Parse the request body as JSON whatever the Content-Type, or raise 400."""
    raw = request.get_data(cache=True)
    if not raw:
        raise invalid("request body must be JSON")
    try:
        return json.loads(raw)
    except ValueError as exc:
        raise invalid(f"malformed JSON: {exc}") from exc


def bound_statements(session: Session, seconds: float) -> None:
    """Cap each statement of this transaction, so a stuck database answers 504, not a hang."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text(f"SET LOCAL statement_timeout = {int(seconds * 1000)}"))
