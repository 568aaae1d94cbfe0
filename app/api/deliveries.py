"""The results endpoint: `GET /api/deliveries/{deliveryId}` for the API key's environment."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, request
from sqlalchemy import select

from app.api.context import runtime
from app.api.spec import documented
from app.errors import not_found
from app.models import Attempt, Delivery
from app.schemas.management import IncludeQuery
from app.schemas.responses import DeliveryOut
from app.services.auth import authenticate_api_key, bearer_token

bp = Blueprint("deliveries", __name__)


@bp.get("/api/deliveries/<delivery_id>")
@documented(
    "Get a delivery of the API key's environment; `include=payload,attempts` adds them",
    query=IncludeQuery,
    response=DeliveryOut,
)
def get_delivery(delivery_id: str) -> dict[str, Any]:
    token = bearer_token(request.headers.get("Authorization"))
    with runtime().sessions() as session:
        api_key = authenticate_api_key(session, token)
        delivery = session.scalar(
            select(Delivery).where(
                Delivery.id == delivery_id,
                Delivery.workspace_id == api_key.workspace_id,
                Delivery.environment_id == api_key.environment_id,
            )
        )
        if delivery is None:
            raise not_found("Delivery")
        include = set(request.args.get("include", "").split(","))
        attempts = None
        if "attempts" in include:
            attempts = list(
                session.scalars(
                    select(Attempt)
                    .where(Attempt.delivery_id == delivery.id)
                    .order_by(Attempt.attempt_number)
                )
            )
        out = DeliveryOut.from_row(
            delivery, include_payload="payload" in include, attempts=attempts
        )
        return out.body()
