"""Response shapes: each model both writes the real response and documents it in OpenAPI.

A model is built from stored rows by its `from_row` (or `of`) without validation: the values
are ours, already typed by the database, and validating them could only turn a stored
oddity into a 500. `body()` writes the JSON object in the order the fields are declared;
fields left unset (a delivery's optional `payload` and `attempts`) are left out, while
fields set to None are written as null. The test suite turns pydantic's serialization
warnings into errors, so a value of the wrong type fails the tests there.

The ingest results are the exception: built per item on the hot path, they are plain dicts
(0.2 to 0.4 µs an item, against 2 to 6 µs through a model), each written next to its model.

`tests/functional/test_response_models.py` holds every route's response to its model.
"""

from __future__ import annotations

import json
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from app.db import iso
from app.domain import DELIVERY_STATUSES, DESTINATION_TYPES, FINAL_STATUSES, DeliveryStatus
from app.errors import as_api_error
from app.models import (
    Application,
    Attempt,
    Delivery,
    Endpoint,
    Environment,
    EventType,
    Subscription,
)


class Out(BaseModel):
    model_config = ConfigDict(extra="forbid")

    def body(self) -> dict[str, Any]:
        """The JSON object of the response: declared order, unset fields left out."""
        return self.model_dump(mode="json", exclude_unset=True)


class ErrorDetail(Out):
    code: str
    message: str


class ErrorOut(Out):
    error: ErrorDetail


class SendResult(Out):
    deliveryId: str
    idempotencyKey: str
    status: Literal["accepted"]

    @staticmethod
    def accepted(delivery_id: str | None, idempotency_key: str | None) -> dict[str, Any]:
        """The body of an accepted send (a plain dict: the ingest hot path)."""
        return {"deliveryId": delivery_id, "idempotencyKey": idempotency_key, "status": "accepted"}


class TriggerResult(Out):
    eventTypeId: str
    deliveryIds: list[str]
    status: Literal["accepted"]

    @staticmethod
    def accepted(event_type_id: str | None, delivery_ids: list[str]) -> dict[str, Any]:
        """The body of an accepted event (a plain dict: the ingest hot path)."""
        return {"eventTypeId": event_type_id, "deliveryIds": delivery_ids, "status": "accepted"}


class BatchResultItem(Out):
    # One item of a batch: its `index`, then a `SendResult`, a `TriggerResult` or an `error`.
    # (A comment, not a docstring, which would become the document's description.)
    index: int
    deliveryId: str | None = None
    idempotencyKey: str | None = None
    eventTypeId: str | None = None
    deliveryIds: list[str] | None = None
    status: Literal["accepted"] | None = None
    error: ErrorDetail | None = None

    @staticmethod
    def accepted(index: int, result: dict[str, Any]) -> dict[str, Any]:
        """The item of an accepted send or event (a plain dict: the ingest hot path)."""
        return {"index": index, **result}

    @staticmethod
    def failed(index: int, error: Exception) -> dict[str, Any]:
        """The item of a refused send or event (a plain dict: the ingest hot path)."""
        wire = as_api_error(error)
        return {"index": index, "error": {"code": wire.code, "message": wire.message}}


class BatchResult(Out):
    items: list[BatchResultItem]

    @staticmethod
    def of(items: list[dict[str, Any]]) -> dict[str, Any]:
        """The body of a batch, from its items (a plain dict: the ingest hot path)."""
        return {"items": items}


class PayloadEnvelope(Out):
    status: Literal["available", "forbidden", "processing", "not_found", "error"]
    data: Any = None
    contentType: str | None = None

    @classmethod
    def from_row(cls, delivery: Delivery) -> PayloadEnvelope:
        """The stored payload, or why there is none: purged once final, or not yet readable."""
        if delivery.payload is None:
            gone = delivery.status in FINAL_STATUSES  # no payload left: it was purged
            return cls.model_construct(status="not_found" if gone else "processing")
        try:
            data = json.loads(delivery.payload)
        except ValueError:
            return cls.model_construct(status="error")
        return cls.model_construct(status="available", data=data, contentType="application/json")


class AttemptOut(Out):
    id: str
    attemptNumber: int
    status: str
    responseStatusCode: int | None
    responseTimeMs: int | None
    errorMessage: str | None
    createdAt: str

    @classmethod
    def from_row(cls, attempt: Attempt) -> AttemptOut:
        return cls.model_construct(
            id=attempt.id,
            attemptNumber=attempt.attempt_number,
            status=attempt.status,
            responseStatusCode=attempt.response_status_code,
            responseTimeMs=attempt.response_time_ms,
            errorMessage=attempt.error_message,
            createdAt=iso(attempt.created_at),
        )


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

    @classmethod
    def from_row(
        cls,
        delivery: Delivery,
        include_payload: bool = False,
        attempts: list[Attempt] | None = None,
    ) -> DeliveryOut:
        """The delivery; with its payload envelope and its attempts only when asked for."""
        retrying = delivery.status == DeliveryStatus.SCHEDULED_RETRY
        extras: dict[str, Any] = {}
        if include_payload:
            extras["payload"] = PayloadEnvelope.from_row(delivery)
        if attempts is not None:
            extras["attempts"] = [AttemptOut.from_row(a) for a in attempts]
        return cls.model_construct(
            id=delivery.id,
            idempotencyKey=delivery.idempotency_key,
            endpointId=delivery.endpoint_id,
            status=delivery.status,
            totalAttempts=delivery.attempts,
            firstAttemptAt=iso(delivery.first_attempt_at),
            deliveredAt=iso(delivery.delivered_at),
            nextRetryAt=iso(delivery.next_attempt_at) if retrying else None,
            hasPayload=delivery.payload is not None,
            createdAt=iso(delivery.created_at),
            updatedAt=iso(delivery.updated_at),
            **extras,
        )


class DeliveryPage(Out):
    deliveries: list[DeliveryOut]
    nextCursor: str | None

    @classmethod
    def of(cls, deliveries: list[Delivery], cursor: str | None) -> DeliveryPage:
        return cls.model_construct(
            deliveries=[DeliveryOut.from_row(d) for d in deliveries], nextCursor=cursor
        )


class CircuitOut(Out):
    state: Literal["closed", "open", "half_open"]
    consecutiveFailures: int
    openUntil: str | None

    @classmethod
    def from_row(cls, endpoint: Endpoint) -> CircuitOut:
        is_open = endpoint.circuit_state == "open"
        return cls.model_construct(
            state=endpoint.circuit_state or "closed",
            consecutiveFailures=endpoint.consecutive_failures or 0,
            openUntil=iso(endpoint.circuit_open_until) if is_open else None,
        )


class EndpointOut(Out):
    id: str
    url: str
    description: str | None
    isActive: bool
    type: Literal[DESTINATION_TYPES]  # type: ignore[valid-type]
    config: dict[str, Any]
    metadata: dict[str, str]
    disabledReason: str | None
    maxInFlight: int | None
    rateLimit: float | None
    circuit: CircuitOut
    pausedUntil: str | None
    createdAt: str
    updatedAt: str
    secret: str

    @classmethod
    def from_row(cls, endpoint: Endpoint) -> EndpointOut:
        return cls.model_construct(
            id=endpoint.id,
            url=endpoint.url,
            description=endpoint.description,
            isActive=endpoint.is_active,
            type=endpoint.type,
            config=endpoint.config or {},
            metadata=endpoint.metadata_ or {},
            disabledReason=endpoint.disabled_reason,
            maxInFlight=endpoint.max_in_flight,
            rateLimit=endpoint.rate_limit,
            circuit=CircuitOut.from_row(endpoint),
            pausedUntil=iso(endpoint.paused_until),
            createdAt=iso(endpoint.created_at),
            updatedAt=iso(endpoint.updated_at),
            secret=endpoint.secret,
        )


class EventTypeOut(Out):
    id: str
    name: str
    description: str | None
    subscriberCount: int
    createdAt: str

    @classmethod
    def from_row(cls, event_type: EventType, subscriber_count: int) -> EventTypeOut:
        return cls.model_construct(
            id=event_type.id,
            name=event_type.name,
            description=event_type.description,
            subscriberCount=subscriber_count,
            createdAt=iso(event_type.created_at),
        )


class ApplicationOut(Out):
    id: str
    externalId: str | None
    name: str
    metadata: dict[str, str]
    maxEndpoints: int | None
    showEventTypes: bool
    createdAt: str
    updatedAt: str

    @classmethod
    def from_row(cls, application: Application) -> ApplicationOut:
        return cls.model_construct(
            id=application.id,
            externalId=application.external_id,
            name=application.name,
            metadata=application.metadata_ or {},
            maxEndpoints=application.max_endpoints,
            showEventTypes=application.show_event_types,
            createdAt=iso(application.created_at),
            updatedAt=iso(application.updated_at),
        )


class SubscriptionOut(Out):
    id: str
    eventTypeId: str
    eventTypeName: str
    createdAt: str

    @classmethod
    def from_row(cls, subscription: Subscription, event_type_name: str) -> SubscriptionOut:
        return cls.model_construct(
            id=subscription.id,
            eventTypeId=subscription.event_type_id,
            eventTypeName=event_type_name,
            createdAt=iso(subscription.created_at),
        )


class SubscribeResult(Out):
    subscribed: int


class EnvironmentOut(Out):
    id: str
    name: str
    slug: str
    isDefault: bool
    createdAt: str
    updatedAt: str

    @classmethod
    def from_row(cls, environment: Environment) -> EnvironmentOut:
        return cls.model_construct(
            id=environment.id,
            name=environment.name,
            slug=environment.slug,
            isDefault=environment.is_default,
            createdAt=iso(environment.created_at),
            updatedAt=iso(environment.updated_at),
        )


class VisibilityOut(Out):
    eventTypeId: str
    eventTypeName: str
    published: bool

    @classmethod
    def from_row(cls, event_type: EventType, published: bool) -> VisibilityOut:
        return cls.model_construct(
            eventTypeId=event_type.id, eventTypeName=event_type.name, published=published
        )


class PortalSessionOut(Out):
    url: str
    code: str
    expiresAt: str


class RedriveResult(Out):
    redriven: int
