"""Management request bodies and query strings (camelCase, as the SDK sends them)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from app.models import DELIVERY_STATUSES
from app.schemas.base import Strict
from app.schemas.ingest import EVENT_TYPE_NAME

SLUG = r"^[a-z0-9]+(?:-[a-z0-9]+)*$"
MAX_PAGE = 100


def _http_url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("must be an http(s) URL with a host")
    return value


HttpUrl = Annotated[str, Field(min_length=1, max_length=2048), AfterValidator(_http_url)]
Name = Annotated[str, Field(min_length=1, max_length=200)]
Metadata = dict[str, str]


class EndpointConfig(Strict):
    headers: dict[str, str] | None = None
    timeout: float | None = Field(default=None, gt=0, le=300)


# Isolation settings the nahook SDK has no field for: extra fields it ignores on the way back.
MaxInFlight = Annotated[int, Field(ge=1, le=1000)]
RateLimit = Annotated[float, Field(gt=0, le=100000)]


class AppEndpointCreate(Strict):
    url: HttpUrl
    type: Literal["webhook", "slack"] = "webhook"
    description: str | None = Field(default=None, max_length=1000)
    metadata: Metadata | None = None
    config: EndpointConfig | None = None
    authUsername: str | None = Field(default=None, max_length=200)
    authPassword: str | None = Field(default=None, max_length=200)
    maxInFlight: MaxInFlight | None = None  # null: the server default
    rateLimit: RateLimit | None = None  # deliveries per second; null: unlimited


class EndpointCreate(AppEndpointCreate):
    environmentId: str | None = Field(default=None, min_length=1, max_length=40)


class EndpointUpdate(Strict):
    url: HttpUrl | None = None
    description: str | None = Field(default=None, max_length=1000)
    metadata: Metadata | None = None
    isActive: bool | None = None
    # Tri-state: absent keeps the value, null clears it, a number sets it.
    maxInFlight: MaxInFlight | None = None
    rateLimit: RateLimit | None = None


class EventTypeCreate(Strict):
    name: str = Field(min_length=1, max_length=100, pattern=EVENT_TYPE_NAME)
    description: str | None = Field(default=None, max_length=1000)


class EventTypeUpdate(Strict):
    description: str | None = Field(default=None, max_length=1000)


class ApplicationCreate(Strict):
    name: Name
    externalId: str | None = Field(default=None, min_length=1, max_length=255)
    metadata: Metadata | None = None
    maxEndpoints: int | None = Field(default=None, ge=0)
    showEventTypes: bool | None = None


class ApplicationUpdate(Strict):
    """`maxEndpoints` is tri-state: absent keeps the cap, null clears it, a number sets it."""

    name: Name | None = None
    metadata: Metadata | None = None
    maxEndpoints: int | None = Field(default=None, ge=0)
    showEventTypes: bool | None = None


class SubscribeBody(Strict):
    eventTypeIds: list[str] = Field(min_length=1, max_length=100)


class EnvironmentCreate(Strict):
    name: Name
    slug: str = Field(min_length=1, max_length=64, pattern=SLUG)


class EnvironmentUpdate(Strict):
    name: Name | None = None


class VisibilityBody(Strict):
    published: bool


class PortalBody(Strict):
    metadata: Metadata | None = None
    role: Literal["admin", "viewer"] = "admin"
    expiresInMinutes: int = Field(default=60, ge=1, le=7 * 24 * 60)


class RotateSecretBody(Strict):
    gracePeriodSeconds: int = Field(default=24 * 3600, ge=0, le=7 * 24 * 3600)


class RedriveBody(Strict):
    since: datetime = Field(strict=False)
    statuses: list[Literal["failed", "dead_letter"]] = Field(
        default=["failed", "dead_letter"], min_length=1
    )


class _Query(BaseModel):
    """Query strings arrive as text, so numbers are coerced; unknown parameters are errors."""

    model_config = ConfigDict(extra="forbid")


class PageQuery(_Query):
    limit: int = Field(default=50, ge=1, le=MAX_PAGE)
    offset: int = Field(default=0, ge=0)


class DeliveryListQuery(_Query):
    limit: int = Field(default=50, ge=1)
    cursor: str | None = Field(default=None, min_length=1, max_length=200)
    status: Literal[DELIVERY_STATUSES] | None = None  # type: ignore[valid-type]


class IncludeQuery(_Query):
    include: str | None = None
