"""Stored rows to the contract's JSON objects (camelCase, ISO-8601 UTC)."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from app.domain import FINAL_STATUSES
from app.models import (
    Application,
    Attempt,
    Delivery,
    Endpoint,
    Environment,
    EventType,
    Subscription,
)


def iso(value: datetime | None) -> str | None:
    if value is None:
        return None
    return value.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def delivery_json(delivery: Delivery, include_payload: bool = False) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": delivery.id,
        "idempotencyKey": delivery.idempotency_key,
        "endpointId": delivery.endpoint_id,
        "status": delivery.status,
        "totalAttempts": delivery.attempts,
        "firstAttemptAt": iso(delivery.first_attempt_at),
        "deliveredAt": iso(delivery.delivered_at),
        "nextRetryAt": iso(delivery.next_attempt_at)
        if delivery.status == "scheduled_retry"
        else None,
        "hasPayload": delivery.payload is not None,
        "createdAt": iso(delivery.created_at),
        "updatedAt": iso(delivery.updated_at),
    }
    if include_payload:
        body["payload"] = payload_envelope(delivery)
    return body


def payload_envelope(delivery: Delivery) -> dict[str, Any]:
    if delivery.payload is None:
        return {"status": "not_found" if delivery.status in FINAL_STATUSES else "processing"}
    try:
        data = json.loads(delivery.payload)
    except ValueError:
        return {"status": "error"}
    return {"status": "available", "data": data, "contentType": "application/json"}


def attempt_json(attempt: Attempt) -> dict[str, Any]:
    return {
        "id": attempt.id,
        "attemptNumber": attempt.attempt_number,
        "status": attempt.status,
        "responseStatusCode": attempt.response_status_code,
        "responseTimeMs": attempt.response_time_ms,
        "errorMessage": attempt.error_message,
        "createdAt": iso(attempt.created_at),
    }


def endpoint_json(endpoint: Endpoint, include_secret: bool = True) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": endpoint.id,
        "url": endpoint.url,
        "description": endpoint.description,
        "isActive": endpoint.is_active,
        "type": endpoint.type,
        "config": endpoint.config or {},
        "metadata": endpoint.metadata_ or {},
        "disabledReason": endpoint.disabled_reason,
        "maxInFlight": endpoint.max_in_flight,
        "rateLimit": endpoint.rate_limit,
        "circuit": {
            "state": endpoint.circuit_state or "closed",
            "consecutiveFailures": endpoint.consecutive_failures or 0,
            "openUntil": iso(endpoint.circuit_open_until)
            if endpoint.circuit_state == "open"
            else None,
        },
        "pausedUntil": iso(endpoint.paused_until),
        "createdAt": iso(endpoint.created_at),
        "updatedAt": iso(endpoint.updated_at),
    }
    if include_secret:
        body["secret"] = endpoint.secret
    return body


def event_type_json(event_type: EventType, subscriber_count: int) -> dict[str, Any]:
    return {
        "id": event_type.id,
        "name": event_type.name,
        "description": event_type.description,
        "subscriberCount": subscriber_count,
        "createdAt": iso(event_type.created_at),
    }


def application_json(application: Application) -> dict[str, Any]:
    return {
        "id": application.id,
        "externalId": application.external_id,
        "name": application.name,
        "metadata": application.metadata_ or {},
        "maxEndpoints": application.max_endpoints,
        "showEventTypes": application.show_event_types,
        "createdAt": iso(application.created_at),
        "updatedAt": iso(application.updated_at),
    }


def environment_json(environment: Environment) -> dict[str, Any]:
    return {
        "id": environment.id,
        "name": environment.name,
        "slug": environment.slug,
        "isDefault": environment.is_default,
        "createdAt": iso(environment.created_at),
        "updatedAt": iso(environment.updated_at),
    }


def subscription_json(subscription: Subscription, event_type_name: str) -> dict[str, Any]:
    return {
        "id": subscription.id,
        "eventTypeId": subscription.event_type_id,
        "eventTypeName": event_type_name,
        "createdAt": iso(subscription.created_at),
    }


def visibility_json(event_type: EventType, published: bool) -> dict[str, Any]:
    return {"eventTypeId": event_type.id, "eventTypeName": event_type.name, "published": published}
