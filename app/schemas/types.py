"""Constrained types every schema reuses: each rule about a string, number, date, URL or
header is written here once, so what reaches the database always fits its column."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated

from pydantic import AfterValidator, Field

from app.sender import ENGINE_HEADERS, DestinationRefused, destination

INT32_MAX = 2**31 - 1  # an INTEGER column, on PostgreSQL and SQLite alike
MAX_HEADERS = 50
# RFC 9110 section 5.6.2: a field name is a token.
TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
# RFC 9110 section 5.5: visible characters, spaces and tabs; no CR, LF, NUL or DEL.
CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")


def _no_nul(value: str) -> str:
    # PostgreSQL text cannot hold NUL: refused here rather than failing the statement.
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    return value


def _in_range(value: datetime) -> datetime:
    """Naive times are UTC; a time whose UTC instant leaves the calendar is refused."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    try:
        return value.astimezone(UTC)
    except OverflowError:
        raise ValueError("is out of range once its offset is applied") from None


def _http_url(value: str) -> str:
    # The sender's own parser decides: a URL saved here is one it can send to.
    try:
        destination(value)
    except DestinationRefused as exc:
        raise ValueError(str(exc)) from None
    return value


def _header_name(value: str) -> str:
    if not TOKEN.fullmatch(value):
        raise ValueError("header names must be HTTP tokens (RFC 9110)")
    if value.lower() in ENGINE_HEADERS:
        raise ValueError(f"header {value!r} is set by hookrelay and cannot be configured")
    return value


def _header_value(value: str) -> str:
    if CONTROL.search(value):
        raise ValueError("header values must not contain control characters")
    return value


NoNul = AfterValidator(_no_nul)


Name = Annotated[str, Field(min_length=1, max_length=200), NoNul]
Description = Annotated[str, Field(max_length=1000), NoNul]
ExternalId = Annotated[str, Field(min_length=1, max_length=255), NoNul]
IdempotencyKey = Annotated[str, Field(min_length=1, max_length=255), NoNul]
ResourceId = Annotated[str, Field(min_length=1, max_length=64), NoNul]
Credential = Annotated[str, Field(max_length=200), NoNul]
Cursor = Annotated[str, Field(min_length=1, max_length=200), NoNul]
Metadata = Annotated[
    dict[
        Annotated[str, Field(max_length=256), NoNul],
        Annotated[str, Field(max_length=4096), NoNul],
    ],
    Field(max_length=100),
]
HttpUrl = Annotated[str, Field(min_length=1, max_length=2048), NoNul, AfterValidator(_http_url)]
HeaderName = Annotated[str, Field(min_length=1, max_length=256), AfterValidator(_header_name)]
HeaderValue = Annotated[str, Field(max_length=4096), AfterValidator(_header_value)]
Headers = Annotated[dict[HeaderName, HeaderValue], Field(max_length=MAX_HEADERS)]
Count = Annotated[int, Field(ge=0, le=INT32_MAX)]
Instant = Annotated[datetime, Field(strict=False), AfterValidator(_in_range)]
