"""One delivery attempt: claim a lease, send outside any transaction, record the outcome fenced."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session, sessionmaker

from app.config import Settings
from app.db import utcnow
from app.ids import new_id
from app.models import WAITING_STATUSES, Attempt, Delivery, Endpoint
from app.retry import AttemptResult, Decision, decide
from app.sender import OutboundRequest, Sender
from app.services.endpoints import signing_secrets
from app.signing import signature_headers

log = logging.getLogger(__name__)
deliveries = Delivery.__table__


@dataclass(frozen=True)
class Claim:
    delivery_id: str
    owner: str
    attempt_number: int
    payload: str
    endpoint: Endpoint
    created_at: datetime | None = None  # when the delivery was accepted, for latency metrics


def claim(
    session: Session, delivery_id: str, owner: str, lease_seconds: float, now: datetime
) -> Claim | None:
    """Take the lease on a delivery that is due, or whose previous owner's lease ran out.

    A single conditional UPDATE: on PostgreSQL a concurrent claimer blocks on the row lock
    and then re-checks the condition against the committed row, so exactly one wins; on
    SQLite the immediate transaction serializes claimers. The loser gets no row back.
    """
    claimable = or_(
        and_(deliveries.c.status.in_(WAITING_STATUSES), deliveries.c.next_attempt_at <= now),
        and_(deliveries.c.status == "delivering", deliveries.c.lease_expires_at < now),
    )
    stmt = (
        deliveries.update()
        .where(deliveries.c.id == delivery_id, claimable)
        .values(
            status="delivering",
            lease_owner=owner,
            lease_expires_at=now + timedelta(seconds=lease_seconds),
            attempts=deliveries.c.attempts + 1,
            first_attempt_at=func.coalesce(deliveries.c.first_attempt_at, now),
            updated_at=now,
        )
        .returning(
            deliveries.c.attempts,
            deliveries.c.endpoint_id,
            deliveries.c.payload,
            deliveries.c.created_at,
        )
    )
    row = session.execute(stmt).first()
    if row is None:
        return None
    endpoint = session.get(Endpoint, row.endpoint_id)
    assert endpoint is not None  # the foreign key cascades deletes to deliveries
    session.expunge(endpoint)
    return Claim(delivery_id, owner, row.attempts, row.payload, endpoint, row.created_at)


def build_request(claim: Claim, settings: Settings, now: datetime) -> OutboundRequest:
    """The signed POST for this attempt; `webhook-id` is the delivery id, stable across retries."""
    endpoint = claim.endpoint
    config: dict[str, Any] = endpoint.config or {}
    headers = {str(k): str(v) for k, v in (config.get("headers") or {}).items()}
    headers["Content-Type"] = "application/json"
    body = claim.payload
    if endpoint.type == "slack":
        body = _slack_body(body)
    else:
        headers.update(
            signature_headers(signing_secrets(endpoint, now), claim.delivery_id, now, body)
        )
    timeout = settings.delivery_timeout
    if isinstance(config.get("timeout"), int | float) and config["timeout"] > 0:
        timeout = min(float(config["timeout"]), settings.delivery_timeout)
    auth = None
    if endpoint.auth_username is not None:
        auth = (endpoint.auth_username, endpoint.auth_password or "")
    return OutboundRequest(endpoint.url, body.encode(), headers, auth, timeout)


def _slack_body(payload: str) -> str:
    """Slack incoming webhooks want `text` or `blocks`; anything else is shown as JSON text."""
    data = json.loads(payload)
    if "text" in data or "blocks" in data:
        return payload
    return json.dumps({"text": f"```{json.dumps(data, indent=2)}```"})


def record(
    session: Session, claim: Claim, result: AttemptResult, decision: Decision, now: datetime
) -> bool:
    """Store the attempt and move the delivery on, but only while this worker holds the lease.

    Returns False when the lease was lost (another worker took over after it expired): the
    attempt is still recorded, since it happened, but the newer owner's outcome stands.
    Also False when the delivery was deleted meanwhile (its endpoint was deleted): nothing
    is left to record against. The shared row lock keeps it from being deleted until commit.
    """
    still_there = select(deliveries.c.id).where(deliveries.c.id == claim.delivery_id)
    if session.scalar(still_there.with_for_update(read=True)) is None:
        return False
    # A Core insert: the ORM unit of work costs more CPU than the rest of the record step.
    session.execute(
        Attempt.__table__.insert().values(
            id=new_id("att"),
            delivery_id=claim.delivery_id,
            attempt_number=claim.attempt_number,
            status="succeeded" if result.succeeded else "failed",
            response_status_code=result.status_code,
            response_time_ms=result.response_time_ms,
            response_body=result.body_excerpt,
            error_message=result.error,
            created_at=now,
        )
    )
    updated = session.execute(
        deliveries.update()
        .where(
            deliveries.c.id == claim.delivery_id,
            deliveries.c.lease_owner == claim.owner,
            deliveries.c.status == "delivering",
        )
        .values(
            status=decision.status,
            next_attempt_at=decision.next_attempt_at,
            delivered_at=now if decision.status == "delivered" else None,
            lease_owner=None,
            lease_expires_at=None,
            enqueued_at=None,
            updated_at=now,
        )
    )
    if decision.disable_endpoint:
        endpoint = session.get(Endpoint, claim.endpoint.id)
        if endpoint is not None:
            endpoint.is_active = False
            endpoint.disabled_reason = "endpoint answered 410 Gone"
    return bool(updated.rowcount)


def deliver(
    factory: sessionmaker[Session],
    sender: Sender,
    settings: Settings,
    delivery_id: str,
    owner: str,
    observe: Callable[[Claim, str], None] | None = None,
) -> str | None:
    """Run one attempt of `delivery_id` if it is due; return the new status, None if skipped.

    `observe(claim, status)` runs after the outcome is recorded (metrics and logs), with what
    the claim already read, so watching an attempt costs no extra query.
    """
    with factory.begin() as session:
        taken = claim(session, delivery_id, owner, settings.lease_seconds, utcnow())
    if taken is None:
        return None  # not due, already delivered, or another worker holds it
    if not taken.endpoint.is_active:
        result = AttemptResult(error="endpoint is disabled", refused=True)
    else:
        result = sender.send(build_request(taken, settings, utcnow()))
    now = utcnow()
    decision = decide(result, taken.attempt_number, settings.retry_schedule, now)
    with factory.begin() as session:
        if not record(session, taken, result, decision, now):
            log.warning("lease lost before recording", extra={"delivery_id": delivery_id})
    if observe is not None:
        observe(taken, decision.status)
    return decision.status
