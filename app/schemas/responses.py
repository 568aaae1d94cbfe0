"""Response shapes, for the OpenAPI document and for tests that hold the server to them."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from app.domain import DELIVERY_STATUSES, DESTINATION_TYPES


class Out(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ErrorDetail(Out):
    code: str
    message: str


class ErrorOut(Out):
    error: ErrorDetail


class SendResult(Out):
    deliveryId: str
    idempotencyKey: str
    status: Literal["accepted"]


class TriggerResult(Out):
    eventTypeId: str
    deliveryIds: list[str]
    status: Literal["accepted"]


class BatchResultItem(Out):
    index: int
    deliveryId: str | None = None
    idempotencyKey: str | None = None
    eventTypeId: str | None = None
    deliveryIds: list[str] | None = None
    status: Literal["accepted"] | None = None
    error: ErrorDetail | None = None


class BatchResult(Out):
    items: list[BatchResultItem]


class PayloadEnvelope(Out):
    status: Literal["available", "forbidden", "processing", "not_found", "error"]
    data: Any = None
    contentType: str | None = None


class AttemptOut(Out):
    id: str
    attemptNumber: int
    status: str
    responseStatusCode: int | None
    responseTimeMs: int | None
    errorMessage: str | None
    createdAt: str


class DeliveryOut(Out):
    id: str
    idempotencyKey: str
    endpointId: str
    status: Literal[DELIVERY_STATUSES]  # type: ignore[valid-type]
    totalAttempts: int
    firstAttemptAt: str | None
    deliveredAt: str | None
    nextRetryAt: str | None
    hasPayload: bool
    createdAt: str
    updatedAt: str
    payload: PayloadEnvelope | None = None
    attempts: list[AttemptOut] | None = None


class DeliveryPage(Out):
    deliveries: list[DeliveryOut]
    nextCursor: str | None


class CircuitOut(Out):
    state: Literal["closed", "open", "half_open"]
    consecutiveFailures: int
    openUntil: str | None


class EndpointOut(Out):
    id: str
    url: str
    description: str | None
    isActive: bool
    type: Literal[DESTINATION_TYPES]  # type: ignore[valid-type]
    config: dict[str, Any]
    metadata: dict[str, str]
    secret: str
    disabledReason: str | None
    maxInFlight: int | None
    rateLimit: float | None
    circuit: CircuitOut
    pausedUntil: str | None
    createdAt: str
    updatedAt: str


class EventTypeOut(Out):
    id: str
    name: str
    description: str | None
    subscriberCount: int
    createdAt: str


class ApplicationOut(Out):
    id: str
    externalId: str | None
    name: str
    metadata: dict[str, str]
    maxEndpoints: int | None
    showEventTypes: bool
    createdAt: str
    updatedAt: str


class SubscriptionOut(Out):
    id: str
    eventTypeId: str
    eventTypeName: str
    createdAt: str


class SubscribeResult(Out):
    subscribed: int


class EnvironmentOut(Out):
    id: str
    name: str
    slug: str
    isDefault: bool
    createdAt: str
    updatedAt: str


class VisibilityOut(Out):
    eventTypeId: str
    eventTypeName: str
    published: bool


class PortalSessionOut(Out):
    url: str
    code: str
    expiresAt: str


class RedriveResult(Out):
    redriven: int
