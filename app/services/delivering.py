"""One delivery attempt: claim a lease, send outside any transaction, record the outcome fenced."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, fields
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, and_, bindparam, func, or_, select
from sqlalchemy.orm import Session

from app import tracing
from app.batching import Batcher
from app.config import Settings
from app.db import UTCDateTime, utcnow
from app.ids import new_id
from app.models import WAITING_STATUSES, Attempt, Delivery, Endpoint
from app.retry import AttemptResult, Decision, decide
from app.sender import OutboundRequest, Sender
from app.services.endpoints import signing_secrets
from app.signing import signature_headers

log = logging.getLogger(__name__)
deliveries = Delivery.__table__
endpoints = Endpoint.__table__
Executor = Session | Connection  # the worker runs on a Connection, tests often on a Session


@dataclass(frozen=True)
class Destination:
    """What an attempt needs of its endpoint, read in the claim's transaction."""

    id: str
    workspace_id: str
    url: str
    type: str
    config: dict[str, Any] | None
    secret: str
    previous_secret: str | None
    previous_secret_expires_at: datetime | None
    auth_username: str | None
    auth_password: str | None
    is_active: bool


@dataclass(frozen=True)
class Claim:
    delivery_id: str
    owner: str
    attempt_number: int
    payload: str
    endpoint: Destination
    created_at: datetime | None = None  # when the delivery was accepted, for latency metrics
    traceparent: str | None = None  # the ingest request's trace, when tracing was on


# Built once: constructing these per call cost more CPU than executing them.
_NOW = bindparam("b_now", type_=UTCDateTime())
_CLAIM = (
    deliveries.update()
    .where(
        deliveries.c.id.in_(bindparam("b_ids", expanding=True)),
        or_(
            and_(deliveries.c.status.in_(WAITING_STATUSES), deliveries.c.next_attempt_at <= _NOW),
            and_(deliveries.c.status == "delivering", deliveries.c.lease_expires_at < _NOW),
        ),
    )
    .values(
        status="delivering",
        lease_owner=bindparam("b_owner"),
        lease_expires_at=bindparam("b_until", type_=UTCDateTime()),
        attempts=deliveries.c.attempts + 1,
        first_attempt_at=func.coalesce(deliveries.c.first_attempt_at, _NOW),
        updated_at=_NOW,
    )
    .returning(
        deliveries.c.id,
        deliveries.c.attempts,
        deliveries.c.endpoint_id,
        deliveries.c.payload,
        deliveries.c.created_at,
        deliveries.c.traceparent,
    )
)
_DESTINATIONS = select(*(endpoints.c[field.name] for field in fields(Destination))).where(
    endpoints.c.id.in_(bindparam("b_ids", expanding=True))
)


def claim(
    session: Executor, delivery_id: str, owner: str, lease_seconds: float, now: datetime
) -> Claim | None:
    """Take the lease on one delivery; see `claim_many`."""
    return claim_many(session, [delivery_id], owner, lease_seconds, now).get(delivery_id)


def claim_many(
    session: Executor, delivery_ids: list[str], owner: str, lease_seconds: float, now: datetime
) -> dict[str, Claim]:
    """Take the lease on each delivery that is due, or whose previous owner's lease ran out.

    One conditional UPDATE for the whole group: on PostgreSQL a concurrent claimer blocks on
    the row lock and then re-checks the condition against the committed row, so exactly one
    wins; on SQLite the immediate transaction serializes claimers. The loser gets no row
    back. Endpoints are read in the same transaction, once per distinct endpoint.
    """
    until = now + timedelta(seconds=lease_seconds)
    params = {"b_ids": list(set(delivery_ids)), "b_owner": owner, "b_until": until, "b_now": now}
    rows = session.execute(_CLAIM, params).all()
    if not rows:
        return {}
    wanted = list({row.endpoint_id for row in rows})
    found = {
        row.id: Destination(**row._asdict())
        for row in session.execute(_DESTINATIONS, {"b_ids": wanted})
    }
    # The foreign key cascades deletes from endpoints to deliveries, so every row has one.
    return {
        row.id: Claim(
            row.id,
            owner,
            row.attempts,
            row.payload,
            found[row.endpoint_id],
            row.created_at,
            row.traceparent,
        )
        for row in rows
    }


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


@dataclass(frozen=True)
class Outcome:
    """One finished attempt, ready to be recorded against its claim."""

    claim: Claim
    result: AttemptResult
    decision: Decision
    at: datetime


_LEASES = (
    select(deliveries.c.id, deliveries.c.lease_owner, deliveries.c.status)
    .where(deliveries.c.id.in_(bindparam("b_ids", expanding=True)))
    .with_for_update(read=True)
)
_ADD_ATTEMPT = Attempt.__table__.insert()
_FINISH = (
    deliveries.update()
    .where(deliveries.c.id == bindparam("b_id"))
    .values(
        status=bindparam("b_status"),
        next_attempt_at=bindparam("b_next", type_=UTCDateTime()),
        delivered_at=bindparam("b_delivered", type_=UTCDateTime()),
        lease_owner=None,
        lease_expires_at=None,
        enqueued_at=None,
        updated_at=_NOW,
    )
)
_DISABLE = (
    endpoints.update()
    .where(endpoints.c.id == bindparam("b_id"))
    .values(
        is_active=False,
        disabled_reason="endpoint answered 410 Gone",
        updated_at=_NOW,
    )
)


def record(
    session: Executor, claim: Claim, result: AttemptResult, decision: Decision, now: datetime
) -> bool:
    """Record one attempt; see `record_many`."""
    return record_many(session, [Outcome(claim, result, decision, now)])[0]


def record_many(session: Executor, outcomes: list[Outcome]) -> list[bool]:
    """Store the attempts and move each delivery on, but only while its claim holds the lease.

    For each outcome, False when the lease was lost (another worker took over after it
    expired): the attempt is still recorded, since it happened, but the newer owner's
    outcome stands. Also False when the delivery was deleted meanwhile (its endpoint was
    deleted): nothing is left to record against. The shared row locks keep the rows from
    being deleted or re-leased until commit, so what is read here holds until then.
    """
    ids = list({o.claim.delivery_id for o in outcomes})
    current = session.execute(_LEASES, {"b_ids": ids}).all()
    owners = {row.id: row.lease_owner for row in current if row.status == "delivering"}
    present = {row.id for row in current}
    kept = [o for o in outcomes if o.claim.delivery_id in present]
    if kept:
        session.execute(_ADD_ATTEMPT, [_attempt_row(o) for o in kept])
    holds = [owners.get(o.claim.delivery_id) == o.claim.owner for o in outcomes]
    held = [o for o, holding in zip(outcomes, holds, strict=True) if holding]
    if held:
        session.execute(_FINISH, [_finish_row(o) for o in held])
    gone = [o for o in kept if o.decision.disable_endpoint]
    if gone:
        session.execute(_DISABLE, [{"b_id": o.claim.endpoint.id, "b_now": o.at} for o in gone])
    return holds


def _finish_row(o: Outcome) -> dict[str, Any]:
    return {
        "b_id": o.claim.delivery_id,
        "b_status": o.decision.status,
        "b_next": o.decision.next_attempt_at,
        "b_delivered": o.at if o.decision.status == "delivered" else None,
        "b_now": o.at,
    }


def _attempt_row(o: Outcome) -> dict[str, Any]:
    return {
        "id": new_id("att"),
        "delivery_id": o.claim.delivery_id,
        "attempt_number": o.claim.attempt_number,
        "status": "succeeded" if o.result.succeeded else "failed",
        "response_status_code": o.result.status_code,
        "response_time_ms": o.result.response_time_ms,
        "response_body": o.result.body_excerpt,
        "error_message": o.result.error,
        "created_at": o.at,
    }


class Attempts:
    """Claims and records of the attempts running in one worker process, grouped.

    Each attempt's thread waits for its group; one transaction claims a group and one
    records a group, instead of two transactions per attempt. Every group's claims share a
    fresh lease owner from `new_owner`, so a fenced record tells them from any later claim.
    """

    def __init__(
        self,
        engine: Engine,
        lease_seconds: float,
        new_owner: Callable[[], str],
        group_size: int = 64,
    ) -> None:
        self._engine = engine
        self._lease_seconds = lease_seconds
        self._new_owner = new_owner
        self._claims = Batcher(self._claim_group, group_size, "hookrelay-claims")
        self._records = Batcher(self._record_group, group_size, "hookrelay-records")

    def claim(self, delivery_id: str) -> Claim | None:
        return self._claims.submit(delivery_id)

    def record(self, outcome: Outcome) -> bool:
        return self._records.submit(outcome)

    def _claim_group(self, delivery_ids: list[str]) -> list[Claim | None]:
        with self._engine.begin() as conn:
            taken = claim_many(conn, delivery_ids, self._new_owner(), self._lease_seconds, utcnow())
        # A message delivered twice can sit in one group twice: only its first copy runs.
        return [taken.pop(delivery_id, None) for delivery_id in delivery_ids]

    def _record_group(self, outcomes: list[Outcome]) -> list[bool]:
        with self._engine.begin() as conn:
            return record_many(conn, outcomes)


def deliver(
    attempts: Attempts,
    sender: Sender,
    settings: Settings,
    delivery_id: str,
    observe: Callable[[Claim, str], None] | None = None,
) -> str | None:
    """Run one attempt of `delivery_id` if it is due; return the new status, None if skipped.

    `observe(claim, status)` runs after the outcome is recorded (metrics and logs), with what
    the claim already read, so watching an attempt costs no extra query.
    """
    taken = attempts.claim(delivery_id)
    if taken is None:
        return None  # not due, already delivered, or another worker holds it
    with tracing.attempting(taken):
        if not taken.endpoint.is_active:
            result = AttemptResult(error="endpoint is disabled", refused=True)
        else:
            result = sender.send(build_request(taken, settings, utcnow()))
        now = utcnow()
        decision = decide(result, taken.attempt_number, settings.retry_schedule, now)
        if not attempts.record(Outcome(taken, result, decision, now)):
            log.warning("lease lost before recording", extra={"delivery_id": delivery_id})
    if observe is not None:
        observe(taken, decision.status)
    return decision.status
