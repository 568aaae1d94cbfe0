"""Validation at the boundary: error messages name the offending field."""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

from app.errors import invalid

MAX_BATCH_ITEMS = 20
M = TypeVar("M", bound=BaseModel)


class Strict(BaseModel):
    """Unknown fields and loose types are errors, so typos never pass silently."""

    model_config = ConfigDict(extra="forbid", strict=True)


def describe(error: ValidationError) -> str:
    """Turn pydantic's errors into one sentence that names each field."""
    parts = []
    for item in error.errors():
        where = ".".join(str(p) for p in item["loc"]) or "body"
        if item["type"] == "extra_forbidden":
            parts.append(f"unknown field '{where}'")
        elif item["type"] == "missing":
            parts.append(f"'{where}' is required")
        else:
            parts.append(f"'{where}': {item['msg']}")
    return "; ".join(parts)


def parse(model: type[M], data: Any) -> M:
    """Validate `data` as `model` or raise a 400 `invalid_request` naming the fields."""
    if not isinstance(data, dict):
        raise invalid("request body must be a JSON object")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise invalid(describe(exc)) from exc
