"""Deliveries: pages per endpoint, one delivery with its payload, attempts, manual retry."""

from __future__ import annotations

from typing import Any

from flask import request

from app.api.context import runtime
from app.api.management import bp, workspace_session
from app.api.spec import documented
from app.db import utcnow
from app.schemas import parse
from app.schemas.management import DeliveryListQuery, IncludeQuery
from app.schemas.responses import AttemptOut, DeliveryOut, DeliveryPage
from app.services import history, redelivery

Body = tuple[Any, int]


@bp.get("/endpoints/<endpoint_id>/deliveries")
@documented(
    "An endpoint's deliveries, newest first, by opaque cursor (limit capped at 100)",
    query=DeliveryListQuery,
    response=DeliveryPage,
)
def list_deliveries(workspace_id: str, endpoint_id: str) -> Body:
    with workspace_session(workspace_id) as session:
        query = parse(DeliveryListQuery, request.args.to_dict())
        page, cursor = history.list_deliveries(
            session,
            workspace_id,
            endpoint_id,
            limit=query.limit,
            cursor=query.cursor,
            status=query.status,
        )
        return DeliveryPage.of(page, cursor).body(), 200


@bp.get("/deliveries/<delivery_id>")
@documented(
    "Get a delivery; `include=payload` adds the payload envelope",
    query=IncludeQuery,
    response=DeliveryOut,
)
def get_delivery(workspace_id: str, delivery_id: str) -> Body:
    with workspace_session(workspace_id) as session:
        query = parse(IncludeQuery, request.args.to_dict())
        include = set((query.include or "").split(","))
        delivery = history.get_delivery(session, workspace_id, delivery_id)
        return DeliveryOut.from_row(delivery, include_payload="payload" in include).body(), 200


@bp.get("/deliveries/<delivery_id>/attempts")
@documented("A delivery's attempts, oldest first", response=AttemptOut, many=True)
def list_attempts(workspace_id: str, delivery_id: str) -> Body:
    with workspace_session(workspace_id) as session:
        attempts = history.list_attempts(session, workspace_id, delivery_id)
        return [AttemptOut.from_row(a).body() for a in attempts], 200


@bp.post("/deliveries/<delivery_id>/retry")
@documented("Send a finished or waiting delivery now", response=DeliveryOut, status=202)
def retry_delivery(workspace_id: str, delivery_id: str) -> Body:
    with workspace_session(workspace_id) as session:
        delivery = redelivery.retry_delivery(session, workspace_id, delivery_id, utcnow())
        body = DeliveryOut.from_row(delivery).body()
    runtime().publisher.publish([delivery.id])
    return body, 202
