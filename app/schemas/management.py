"""Management request bodies and query strings (camelCase, as the SDK sends them)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from app.domain import DELIVERY_STATUSES, DESTINATION_TYPES, REDRIVE_STATUSES, DestinationType
from app.schemas.base import Strict
from app.schemas.ingest import EVENT_TYPE_NAME
from app.schemas.types import (
    INT32_MAX,
    Count,
    Credential,
    Cursor,
    Description,
    ExternalId,
    Headers,
    HttpUrl,
    Instant,
    Metadata,
    Name,
    ResourceId,
)
from app.services.applications import ApplicationChange
from app.services.edits import KEEP
from app.services.endpoints import EndpointChange

SLUG = r"^[a-z0-9]+(?:-[a-z0-9]+)*$"
MAX_PAGE = 100


class EndpointConfig(Strict):
    headers: Headers | None = None
    timeout: float | None = Field(default=None, gt=0, le=300)


# Isolation settings the nahook SDK has no field for: extra fields it ignores on the way back.
MaxInFlight = Annotated[int, Field(ge=1, le=1000)]
RateLimit = Annotated[float, Field(gt=0, le=100000)]


class AppEndpointCreate(Strict):
    url: HttpUrl
    type: Literal[DESTINATION_TYPES] = DestinationType.WEBHOOK.value  # type: ignore[valid-type]
    description: Description | None = None
    metadata: Metadata | None = None
    config: EndpointConfig | None = None
    authUsername: Credential | None = None
    authPassword: Credential | None = None
    maxInFlight: MaxInFlight | None = None  # null: the server default
    rateLimit: RateLimit | None = None  # deliveries per second; null: unlimited


class EndpointCreate(AppEndpointCreate):
    environmentId: ResourceId | None = None


class EndpointUpdate(Strict):
    url: HttpUrl | None = None
    description: Description | None = None
    metadata: Metadata | None = None
    isActive: bool | None = None
    # Tri-state: absent keeps the value, null clears it, a number sets it.
    maxInFlight: MaxInFlight | None = None
    rateLimit: RateLimit | None = None

    def as_change(self) -> EndpointChange:
        """The service's edit: absent fields keep; null clears the ones that may be cleared."""
        given = self.model_fields_set
        return EndpointChange(
            url=KEEP if self.url is None else self.url,
            description=self.description if "description" in given else KEEP,
            metadata=KEEP if self.metadata is None else self.metadata,
            is_active=KEEP if self.isActive is None else self.isActive,
            max_in_flight=self.maxInFlight if "maxInFlight" in given else KEEP,
            rate_limit=self.rateLimit if "rateLimit" in given else KEEP,
        )


class EventTypeCreate(Strict):
    name: str = Field(min_length=1, max_length=100, pattern=EVENT_TYPE_NAME)
    description: Description | None = None


class EventTypeUpdate(Strict):
    description: Description | None = None


class ApplicationCreate(Strict):
    name: Name
    externalId: ExternalId | None = None
    metadata: Metadata | None = None
    maxEndpoints: Count | None = None
    showEventTypes: bool | None = None


class ApplicationUpdate(Strict):
    """`maxEndpoints` is tri-state: absent keeps the cap, null clears it, a number sets it."""

    name: Name | None = None
    metadata: Metadata | None = None
    maxEndpoints: Count | None = None
    showEventTypes: bool | None = None

    def as_change(self) -> ApplicationChange:
        """The service's edit: absent or null fields keep, but a null `maxEndpoints` lifts it."""
        return ApplicationChange(
            name=KEEP if self.name is None else self.name,
            metadata=KEEP if self.metadata is None else self.metadata,
            max_endpoints=self.maxEndpoints if "maxEndpoints" in self.model_fields_set else KEEP,
            show_event_types=KEEP if self.showEventTypes is None else self.showEventTypes,
        )


class SubscribeBody(Strict):
    eventTypeIds: list[ResourceId] = Field(min_length=1, max_length=100)


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


_REDRIVE = tuple(status.value for status in REDRIVE_STATUSES)


class RedriveBody(Strict):
    since: Instant
    statuses: list[Literal[_REDRIVE]] = Field(  # type: ignore[valid-type]
        default=list(_REDRIVE), min_length=1
    )


class _Query(BaseModel):
    """Query strings arrive as text, so numbers are coerced; unknown parameters are errors."""

    model_config = ConfigDict(extra="forbid")


class PageQuery(_Query):
    limit: int = Field(default=50, ge=1, le=MAX_PAGE)
    offset: Count = 0


class DeliveryListQuery(_Query):
    limit: int = Field(default=50, ge=1, le=INT32_MAX)
    cursor: Cursor | None = None
    status: Literal[DELIVERY_STATUSES] | None = None  # type: ignore[valid-type]


class IncludeQuery(_Query):
    include: str | None = None
