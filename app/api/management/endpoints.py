"""Endpoints, their subscriptions, and the operator actions on them."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from app.api.context import read_json
from app.api.management import NO_CONTENT, bp, destinations, optional_json, workspace_session
from app.api.spec import documented
from app.db import utcnow
from app.models import Endpoint
from app.schemas import parse
from app.schemas.management import (
    AppEndpointCreate,
    EndpointCreate,
    EndpointUpdate,
    RedriveBody,
    RotateSecretBody,
    SubscribeBody,
)
from app.schemas.responses import EndpointOut, RedriveResult, SubscribeResult, SubscriptionOut
from app.services import endpoints, event_types, redelivery
from app.services.lookup import owned
from app.services.workspaces import create_endpoint

Body = tuple[Any, int]


def endpoint_fields(spec: AppEndpointCreate) -> dict[str, Any]:
    """The keyword arguments of `create_endpoint` for a validated endpoint body."""
    auth = (spec.authUsername, spec.authPassword or "") if spec.authUsername else None
    return {
        **destinations(),
        "config": spec.config.model_dump(exclude_none=True) if spec.config else {},
        "auth": auth,
        "type_": spec.type,
        "description": spec.description,
        "metadata": spec.metadata,
        "max_in_flight": spec.maxInFlight,
        "rate_limit": spec.rateLimit,
    }


@bp.get("/endpoints")
@documented("List the workspace's endpoints, oldest first", response=EndpointOut, many=True)
def list_endpoints(workspace_id: str) -> Body:
    with workspace_session(workspace_id) as session:
        listed = endpoints.list_endpoints(session, workspace_id)
        return [EndpointOut.from_row(e).body() for e in listed], 200


@bp.post("/endpoints")
@documented("Create an endpoint", body=EndpointCreate, response=EndpointOut, status=201)
def create(workspace_id: str) -> Body:
    with workspace_session(workspace_id) as session:
        spec = parse(EndpointCreate, read_json())
        endpoint = create_endpoint(
            session,
            workspace_id,
            spec.url,
            environment_id=spec.environmentId,
            **endpoint_fields(spec),
        )
        return EndpointOut.from_row(endpoint).body(), 201


@bp.get("/endpoints/<endpoint_id>")
@documented("Get an endpoint", response=EndpointOut)
def get(workspace_id: str, endpoint_id: str) -> Body:
    with workspace_session(workspace_id) as session:
        endpoint = owned(session, Endpoint, workspace_id, endpoint_id, "Endpoint")
        return EndpointOut.from_row(endpoint).body(), 200


@bp.patch("/endpoints/<endpoint_id>")
@documented(
    "Change an endpoint's URL, description, metadata, active flag, cap or rate limit",
    body=EndpointUpdate,
    response=EndpointOut,
)
def update(workspace_id: str, endpoint_id: str) -> Body:
    with workspace_session(workspace_id) as session:
        change = parse(EndpointUpdate, read_json())
        endpoint = endpoints.update_endpoint(
            session, workspace_id, endpoint_id, change.as_change(), **destinations()
        )
        return EndpointOut.from_row(endpoint).body(), 200


@bp.delete("/endpoints/<endpoint_id>")
@documented("Delete an endpoint with its subscriptions and deliveries", status=204)
def delete(workspace_id: str, endpoint_id: str) -> Body:
    with workspace_session(workspace_id) as session:
        endpoints.delete_endpoint(session, workspace_id, endpoint_id)
    return NO_CONTENT


@bp.post("/endpoints/<endpoint_id>/disable")
@documented("Disable an endpoint: its deliveries fail without a request", response=EndpointOut)
def disable(workspace_id: str, endpoint_id: str) -> Body:
    with workspace_session(workspace_id) as session:
        endpoint = endpoints.toggle_endpoint(session, workspace_id, endpoint_id, False)
        return EndpointOut.from_row(endpoint).body(), 200


@bp.post("/endpoints/<endpoint_id>/enable")
@documented("Enable an endpoint again", response=EndpointOut)
def enable(workspace_id: str, endpoint_id: str) -> Body:
    with workspace_session(workspace_id) as session:
        endpoint = endpoints.toggle_endpoint(session, workspace_id, endpoint_id, True)
        return EndpointOut.from_row(endpoint).body(), 200


@bp.post("/endpoints/<endpoint_id>/rotate-secret")
@documented(
    "Issue a new signing secret; the old one also signs during the grace period",
    body=RotateSecretBody,
    body_optional=True,
    response=EndpointOut,
)
def rotate_secret(workspace_id: str, endpoint_id: str) -> Body:
    with workspace_session(workspace_id) as session:
        spec = parse(RotateSecretBody, optional_json())
        grace = timedelta(seconds=spec.gracePeriodSeconds)
        endpoint = endpoints.rotate_secret(session, workspace_id, endpoint_id, grace, utcnow())
        return EndpointOut.from_row(endpoint).body(), 200


@bp.post("/endpoints/<endpoint_id>/redrive")
@documented(
    "Send again the endpoint's failed and dead-lettered deliveries created since a time",
    body=RedriveBody,
    response=RedriveResult,
    status=202,
)
def redrive(workspace_id: str, endpoint_id: str) -> Body:
    with workspace_session(workspace_id) as session:
        spec = parse(RedriveBody, read_json())
        count = redelivery.redrive_endpoint(
            session,
            workspace_id,
            endpoint_id,
            since=spec.since,
            statuses=spec.statuses,
            now=utcnow(),
        )
    return RedriveResult.model_construct(redriven=count).body(), 202


@bp.get("/endpoints/<endpoint_id>/subscriptions")
@documented("List the event types an endpoint subscribes to", response=SubscriptionOut, many=True)
def list_subscriptions(workspace_id: str, endpoint_id: str) -> Body:
    with workspace_session(workspace_id) as session:
        rows = event_types.list_subscriptions(session, workspace_id, endpoint_id)
        return [SubscriptionOut.from_row(s, name).body() for s, name in rows], 200


@bp.post("/endpoints/<endpoint_id>/subscriptions")
@documented(
    "Subscribe an endpoint to event types; counts the new subscriptions",
    body=SubscribeBody,
    response=SubscribeResult,
    status=201,
)
def subscribe(workspace_id: str, endpoint_id: str) -> Body:
    with workspace_session(workspace_id) as session:
        spec = parse(SubscribeBody, read_json())
        count = event_types.subscribe(session, workspace_id, endpoint_id, spec.eventTypeIds)
    return SubscribeResult.model_construct(subscribed=count).body(), 201


@bp.delete("/endpoints/<endpoint_id>/subscriptions/<event_type_id>")
@documented("Unsubscribe an endpoint from an event type", status=204)
def unsubscribe(workspace_id: str, endpoint_id: str, event_type_id: str) -> Body:
    with workspace_session(workspace_id) as session:
        event_types.unsubscribe(session, workspace_id, endpoint_id, event_type_id)
    return NO_CONTENT
