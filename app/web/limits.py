"""The endpoint pages' cap and rate-limit form fields, validated like the API's update body."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from app.errors import invalid
from app.schemas import parse
from app.schemas.management import EndpointUpdate
from app.services.endpoints import EndpointChange


def limit_fields(form: Mapping[str, str]) -> dict[str, Any]:
    """`maxInFlight` and `rateLimit` from the form: an empty box is null (the default, none)."""
    fields: dict[str, Any] = {}
    for name, kind in (("maxInFlight", int), ("rateLimit", float)):
        if name not in form:
            continue
        raw = form[name].strip()
        try:
            fields[name] = kind(raw) if raw else None
        except ValueError:
            raise invalid(f"'{name}' must be a number") from None
    return fields


def limits_update(form: Mapping[str, str]) -> EndpointChange:
    """The change that sets only what the form's limit boxes say (validated like the API)."""
    return parse(EndpointUpdate, limit_fields(form)).as_change()
