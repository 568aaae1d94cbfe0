"""The REST batch call: an array of `[sequence_number, method, path, payload?, options?]`."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any, Literal, get_args

from pydantic import Field, RootModel, StrictInt, ValidationError

from app.errors import invalid
from app.schemas.base import Strict

MAX_OPERATIONS = 10
API_VERSIONS = ("v1",)
DATE_VERSION = re.compile(r"\d{4}-\d{2}-\d{2}")
# The date somewhere on Earth is at most 14 hours ahead of UTC (UTC+14, Kiribati).
EARLIEST_UTC_OFFSET = timedelta(hours=14)
SHAPE = "[sequence_number, method, path, payload?, options?]"

SequenceNumber = StrictInt | Annotated[float, Field(strict=True, allow_inf_nan=False)]
Method = Literal["GET", "POST", "PUT", "PATCH", "DELETE"]


class BatchOptions(Strict):
    api_version: str | None = None


Operation = (
    tuple[SequenceNumber, Method, str]
    | tuple[SequenceNumber, Method, str, Any]
    | tuple[SequenceNumber, Method, str, Any, BatchOptions]
)


class BatchOperations(RootModel[Annotated[list[Operation], Field(max_length=MAX_OPERATIONS)]]):
    """Up to 10 management calls, each answered as if it were its own request."""


class BatchResults(RootModel[list[tuple[SequenceNumber, int, Any]]]):
    """`[sequence_number, http_status_code, response_body]` for every operation."""


def known_version(version: str, now: datetime | None = None) -> bool:
    """`v1`, or a date (`YYYY-MM-DD`, as TalkJS writes them) no later than today.

    The API has had one version, so every date up to today selects it; a later date would
    name a version that does not exist yet.
    """
    if version in API_VERSIONS:
        return True
    if not DATE_VERSION.fullmatch(version):
        return False
    try:
        when = date.fromisoformat(version)
    except ValueError:
        return False
    return when <= ((now or datetime.now(UTC)) + EARLIEST_UTC_OFFSET).date()


def parse_operations(data: Any) -> list[Operation]:
    """Validate a whole batch, or raise one 400 for the whole request saying what is wrong."""
    try:
        operations = BatchOperations.model_validate(data).root
    except ValidationError as exc:
        raise invalid(_describe(exc)) from exc
    seen: set[int | float] = set()
    for operation in operations:
        if operation[0] in seen:
            raise invalid(f"sequence number {operation[0]} is used twice")
        seen.add(operation[0])
    return operations


def _describe(exc: ValidationError) -> str:
    first = exc.errors()[0]
    if not first["loc"]:
        if first["type"] == "too_long":
            return f"a batch holds at most {MAX_OPERATIONS} operations"
        return f"the body must be a JSON array of operations {SHAPE}"
    methods = ", ".join(get_args(Method))
    return (
        f"operation {first['loc'][0]} must be {SHAPE} with a numeric sequence number, "
        f"a method among {methods}, a string path and options {{api_version}}"
    )
