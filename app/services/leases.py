"""The lease SQL: claim a group of deliveries for one worker, record their outcomes fenced.

The claim admits each delivery past its endpoint's cap, circuit, pause and rate limit
(app/services/endpoint_health.py) and defers the rest in the same transaction; the record
folds the outcomes back into the endpoints' state and wakes parked deliveries. Both lock the
group's endpoint rows first, in id order, then deliveries: one order, so never a deadlock.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import BindParameter, ColumnElement, and_, bindparam, case, func, or_, select

from app import metrics
from app.db import UTCDateTime, picked_by
from app.domain import WAITING_STATUSES, AttemptStatus, DeliveryStatus
from app.driver import Statement
from app.ids import new_id
from app.models import Attempt, Delivery, Endpoint
from app.retry import AttemptResult, Decision
from app.services import endpoint_health
from app.services.destination import DESTINATION_FIELDS, Destination
from app.services.endpoint_health import Admission, Change, Executor, Policy

deliveries = Delivery.__table__
endpoints = Endpoint.__table__
DEFAULT_POLICY = Policy()


@dataclass(frozen=True)
class Claim:
    delivery_id: str
    owner: str
    attempt_number: int
    payload: str
    endpoint: Destination
    created_at: datetime | None = None  # when the delivery was accepted, for latency metrics
    traceparent: str | None = None  # the ingest request's trace, when tracing was on
    # The endpoint had failed since its last success when this was claimed: its circuit
    # may open before the attempt is sent, so the sender looks again (`still_admitted`).
    recheck: bool = False


@dataclass(frozen=True)
class Candidate:
    """A delivery the claim may take, as `endpoint_health.admit` reads it."""

    id: str
    operator_retry: bool


@dataclass(frozen=True)
class Outcome:
    """One finished attempt, ready to be recorded against its claim."""

    claim: Claim
    result: AttemptResult
    decision: Decision
    at: datetime


# Built once: constructing these per call cost more CPU than executing them.
_NOW = bindparam("b_now", type_=UTCDateTime())
_IDS: BindParameter[str] = bindparam("b_ids", expanding=True)
# Written without IN so that the deferrals can run it as one executemany.
_WAITING = or_(*(deliveries.c.status == status for status in WAITING_STATUSES))
_CLAIMABLE = or_(
    and_(_WAITING, deliveries.c.next_attempt_at <= _NOW),
    and_(deliveries.c.status == DeliveryStatus.DELIVERING, deliveries.c.lease_expires_at < _NOW),
)
# Claimable, unless parked by the cap (parked when already due; a hold parks a delivery
# until a later time, when its message may claim it again), each with its endpoint's
# destination and state, the endpoints locked: see `claim_group`. One statement, not a read
# and then a lock: most single sends are claimed alone, where a statement is about a sixth
# of the claim's CPU (docs/performance.md).
_STATE_ONLY = [name for name in endpoint_health.STATE_COLUMNS if name not in DESTINATION_FIELDS]
_CANDIDATES = Statement(
    select(
        deliveries.c.id.label("delivery_id"),
        deliveries.c.operator_retry,
        *(endpoints.c[name] for name in (*DESTINATION_FIELDS, *_STATE_ONLY)),
    )
    .join(endpoints, endpoints.c.id == deliveries.c.endpoint_id)
    .where(
        deliveries.c.id.in_(_IDS),
        _CLAIMABLE,
        or_(
            deliveries.c.parked_at.is_(None),
            deliveries.c.operator_retry,
            deliveries.c.next_attempt_at > deliveries.c.parked_at,
        ),
    )
    .order_by(endpoints.c.id)
    # FOR NO KEY UPDATE OF endpoints: ingest's foreign-key checks go on.
    .with_for_update(key_share=True, of=endpoints)
)
_LEASED = {
    "status": DeliveryStatus.DELIVERING,
    "lease_owner": bindparam("b_owner"),
    "lease_expires_at": bindparam("b_until", type_=UTCDateTime()),
    "attempts": deliveries.c.attempts + 1,
    "first_attempt_at": func.coalesce(deliveries.c.first_attempt_at, _NOW),
    "parked_at": None,
    "operator_retry": False,
    "updated_at": _NOW,
}
_CLAIMED = (
    deliveries.c.id,
    deliveries.c.attempts,
    deliveries.c.endpoint_id,
    deliveries.c.payload,
    deliveries.c.created_at,
    deliveries.c.traceparent,
)
_CLAIM = Statement(
    deliveries.update()
    .where(deliveries.c.id.in_(_IDS), _CLAIMABLE)
    .values(_LEASED)
    .returning(*_CLAIMED)
)
# A record's relay, in one statement: the endpoint's oldest parked deliveries that may go
# now, as many as the slots freed and no more than the cap leaves free (fewer when the cap
# was lowered), leased to the recording process.
_BUSY = deliveries.alias("busy")
_SLOTS: BindParameter[int] = bindparam("b_slots")
_FREE: ColumnElement[int] = bindparam("b_cap") - (
    select(func.count())
    .where(_BUSY.c.endpoint_id == bindparam("b_endpoint"), endpoint_health.leased_now(_BUSY))
    .scalar_subquery()
)
# The oldest parked are picked first, then each looked up by id (`picked_by`): joined with
# the parked rows instead, a relay read every one of them, which held its group's leases,
# and so the endpoint's cap, while a backlog of tens of thousands drained (docs/reliability.md).
_RELAYED = endpoint_health.parked_first(
    deliveries.alias("parked"), case((_FREE < 0, 0), (_FREE < _SLOTS, _FREE), else_=_SLOTS)
)
_RELAY = Statement(
    deliveries.update()
    .where(picked_by(deliveries.c.id, _RELAYED))
    .values(_LEASED)
    .returning(*_CLAIMED)
)
# Read only when relaying: a record's read of the endpoints' state leaves out the secrets,
# which are decrypted as they are read.
_DESTINATION = Statement(
    select(*(endpoints.c[name] for name in DESTINATION_FIELDS)).where(
        endpoints.c.id == bindparam("b_endpoint")
    )
)


def claim(
    session: Executor,
    delivery_id: str,
    owner: str,
    lease_seconds: float,
    now: datetime,
    policy: Policy = DEFAULT_POLICY,
) -> Claim | None:
    """Take the lease on one delivery; see `claim_group`."""
    return claim_many(session, [delivery_id], owner, lease_seconds, now, policy).get(delivery_id)


def claim_many(
    session: Executor,
    delivery_ids: list[str],
    owner: str,
    lease_seconds: float,
    now: datetime,
    policy: Policy = DEFAULT_POLICY,
) -> dict[str, Claim]:
    """Claim a group; see `claim_group`. Returns the claims taken, by delivery id."""
    return claim_group(session, delivery_ids, owner, lease_seconds, now, policy)[0]


def claim_group(
    session: Executor,
    delivery_ids: list[str],
    owner: str,
    lease_seconds: float,
    now: datetime,
    policy: Policy,
) -> tuple[dict[str, Claim], Admission]:
    """Take the lease on each delivery that is due (or whose owner's lease ran out) and that
    its endpoint admits now; defer the others without an attempt.

    One statement reads the candidates with their endpoints and locks those (in id order)
    before anything is decided, so the in-flight count read next holds until commit: on
    PostgreSQL a concurrent claimer of the same endpoint waits for the lock and then counts
    this group's claims; on SQLite the immediate transaction serializes claimers. The final
    UPDATE re-checks each delivery, so a delivery taken meanwhile by another worker (a
    duplicate message) comes back to no one but that worker. The admission tells what was
    deferred and which circuits a probe half-opened.

    An endpoint found full parks its due backlog too, and one found blocked (circuit open,
    paused) holds it: the messages of parked deliveries claim nothing, so a burst costs one
    read per message. A parked delivery goes when a finished attempt relays or wakes it,
    or with an operator's retry.
    """
    plan = Admission()
    found: dict[str, Any] = {}
    by_endpoint: dict[str, list[Candidate]] = defaultdict(list)
    for row in _CANDIDATES.rows(session, {"b_ids": list(set(delivery_ids)), "b_now": now}):
        found[row.id] = row
        by_endpoint[row.id].append(Candidate(row.delivery_id, row.operator_retry))
    if not by_endpoint:
        return {}, plan
    counts = endpoint_health.in_flight(session, sorted(by_endpoint), now)
    for endpoint_id, rows in by_endpoint.items():
        endpoint_health.admit(
            found[endpoint_id], rows, counts.get(endpoint_id, 0), policy, now, plan
        )
    endpoint_health.apply_admission(session, plan, _CLAIMABLE, now)
    if not plan.claim:
        return {}, plan
    until = now + timedelta(seconds=lease_seconds)
    params = {"b_ids": plan.claim, "b_owner": owner, "b_until": until, "b_now": now}
    destinations = {endpoint_id: Destination.of(row) for endpoint_id, row in found.items()}
    # An operator's retry is sent even through an open circuit: it is the probe.
    retries = {row.id for rows in by_endpoint.values() for row in rows if row.operator_retry}
    failing = {i for i, row in found.items() if not endpoint_health.is_healthy(row)}
    claims = {
        row.id: _claim_of(
            row,
            owner,
            destinations[row.endpoint_id],
            recheck=row.endpoint_id in failing and row.id not in retries,
        )
        for row in _CLAIM.rows(session, params)
    }
    return claims, plan


def _claim_of(row: Any, owner: str, destination: Destination, recheck: bool) -> Claim:
    return Claim(
        row.id,
        owner,
        row.attempts,
        row.payload,
        destination,
        row.created_at,
        row.traceparent,
        recheck,
    )


_BLOCKS = select(
    endpoints.c.circuit_state, endpoints.c.circuit_open_until, endpoints.c.paused_until
).where(endpoints.c.id == bindparam("b_endpoint"))
# The claim undone: no attempt happened, so none is counted; held like the backlog a block
# holds (`endpoint_health.hold_backlog`), and only while this claim still holds the lease.
_GIVE_BACK = (
    deliveries.update()
    .where(
        deliveries.c.id == bindparam("b_id"),
        deliveries.c.lease_owner == bindparam("b_owner"),
        deliveries.c.status == DeliveryStatus.DELIVERING,
    )
    .values(
        status=case(
            (deliveries.c.attempts > 1, DeliveryStatus.SCHEDULED_RETRY),
            else_=DeliveryStatus.PENDING,
        ),
        attempts=deliveries.c.attempts - 1,
        first_attempt_at=case((deliveries.c.attempts > 1, deliveries.c.first_attempt_at)),
        lease_owner=None,
        lease_expires_at=None,
        next_attempt_at=bindparam("b_until", type_=UTCDateTime()),
        parked_at=_NOW,
        enqueued_at=_NOW,
        updated_at=_NOW,
    )
)


def still_admitted(session: Executor, claim: Claim, now: datetime) -> bool:
    """Whether a claim's endpoint still takes it, looked at just before it is sent.

    Between a claim and its send, another worker's record can open the endpoint's circuit
    (or a receiver's Retry-After pause it): with many threads on few cores, or a relayed
    claim waiting for a free thread, that is milliseconds to seconds, and the attempt would
    be burned on an endpoint known to be down. Such a claim is given back, uncounted, and
    held until the block ends. A claim of a healthy endpoint skips this read (`recheck`).
    """
    state = session.execute(_BLOCKS, {"b_endpoint": claim.endpoint.id}).one_or_none()
    if state is None:
        return False  # deleted meanwhile, and its deliveries with it
    until = endpoint_health.blocked_until(state, now)
    if until is None:
        return True
    params = {"b_id": claim.delivery_id, "b_owner": claim.owner, "b_until": until, "b_now": now}
    session.execute(_GIVE_BACK, params)
    reason = "circuit_open" if state.circuit_state == "open" else "paused"
    metrics.DEFERRALS.labels(reason).inc()
    return False


_LEASES = Statement(
    select(deliveries.c.id, deliveries.c.lease_owner, deliveries.c.status)
    .where(deliveries.c.id.in_(_IDS))
    .with_for_update(read=True)
)
_ADD_ATTEMPT = Statement(Attempt.__table__.insert())
_FINISH = Statement(
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


@dataclass(frozen=True)
class Relay:
    """The lease a record gives the parked deliveries it relays its freed slots to."""

    owner: str
    lease_seconds: float


@dataclass
class Recorded:
    """A recorded group: per outcome whether its lease held, the endpoints' changes, the
    parked deliveries woken (to publish once committed), and those relayed (claimed)."""

    holds: list[bool]
    changes: list[Change] = field(default_factory=list)
    woken: list[str] = field(default_factory=list)
    relayed: list[Claim] = field(default_factory=list)


def record(
    session: Executor,
    claim: Claim,
    result: AttemptResult,
    decision: Decision,
    now: datetime,
    policy: Policy = DEFAULT_POLICY,
) -> bool:
    """Record one attempt; see `record_many`."""
    return record_many(session, [Outcome(claim, result, decision, now)], policy)[0]


def record_many(
    session: Executor, outcomes: list[Outcome], policy: Policy = DEFAULT_POLICY
) -> list[bool]:
    """Record a group of attempts; see `record_group`. Returns whether each lease held."""
    return record_group(session, outcomes, policy).holds


def record_group(
    session: Executor, outcomes: list[Outcome], policy: Policy, relay: Relay | None = None
) -> Recorded:
    """Store the attempts and move each delivery on, but only while its claim holds the lease.

    For each outcome, False when the lease was lost (another worker took over after it
    expired): the attempt is still recorded, since it happened, but the newer owner's
    outcome stands. Also False when the delivery was deleted meanwhile (its endpoint was
    deleted): nothing is left to record against. The shared row locks keep the rows from
    being deleted or re-leased until commit, so what is read here holds until then. Every
    attempt that happened also counts for its endpoint's circuit and frees its slot.

    With a `relay`, each freed slot of a healthy endpoint passes straight to its oldest
    parked delivery, claimed here under `relay`'s lease (see `relay_slots`); the others'
    parked deliveries are only woken.
    """
    results: dict[str, list[tuple[AttemptResult, datetime]]] = defaultdict(list)
    for o in outcomes:
        results[o.claim.endpoint.id].append((o.result, o.at))
    states, parked = endpoint_health.record_states(session, results)
    ids = list({o.claim.delivery_id for o in outcomes})
    current = _LEASES.rows(session, {"b_ids": ids})
    owners = {row.id: row.lease_owner for row in current if row.status == DeliveryStatus.DELIVERING}
    present = {row.id for row in current}
    kept = [o for o in outcomes if o.claim.delivery_id in present]
    if kept:
        _ADD_ATTEMPT.run(session, [_attempt_row(o) for o in kept])
    holds = [owners.get(o.claim.delivery_id) == o.claim.owner for o in outcomes]
    held = [o for o, holding in zip(outcomes, holds, strict=True) if holding]
    if held:
        _FINISH.run(session, [_finish_row(o) for o in held])
    gone = [o for o in kept if o.decision.disable_endpoint]
    if gone:
        session.execute(_DISABLE, [{"b_id": o.claim.endpoint.id, "b_now": o.at} for o in gone])
    recorded = Recorded(holds)
    seen_by_endpoint: dict[str, list[tuple[AttemptResult, datetime]]] = defaultdict(list)
    for o in kept:
        seen_by_endpoint[o.claim.endpoint.id].append((o.result, o.at))
    disabled = {o.claim.endpoint.id for o in gone}
    for endpoint_id, seen in sorted(seen_by_endpoint.items()):
        if endpoint_id in states:
            state, at = states[endpoint_id], seen[-1][1]
            change = endpoint_health.observe(state, seen, policy)
            if endpoint_id not in parked:
                change.wake = 0  # nothing to relay or wake
            elif relay is not None and endpoint_id not in disabled:
                after = endpoint_health.state_after(state, change)
                slots = endpoint_health.relayable(after, change, len(seen))
                if slots:
                    failing = not endpoint_health.is_healthy(after)
                    recorded.relayed += relay_slots(
                        session, endpoint_id, slots, policy.cap(state), relay, at, failing
                    )
                    change.wake -= slots
            recorded.woken += endpoint_health.apply_change(session, change, at)
            recorded.changes.append(change)
    return recorded


def relay_slots(
    session: Executor,
    endpoint_id: str,
    slots: int,
    cap: int,
    relay: Relay,
    now: datetime,
    failing: bool = False,
) -> list[Claim]:
    """Claim up to `slots` of the endpoint's oldest parked deliveries for `relay`'s owner.

    The attempts that freed the slots are finished in this transaction and these claimed
    in it, so the endpoint's in-flight count never rises: no other claimer can take a freed
    slot first, and a parked delivery costs one claim (its parking), not a wake-up and a
    second claim. The endpoint is read as it is now: its URL or secret may have changed
    since the claims that freed the slots.
    """
    found = next(iter(_DESTINATION.rows(session, {"b_endpoint": endpoint_id})), None)
    if found is None or not found.is_active:
        return []
    destination = Destination.of(found)
    params = {
        "b_endpoint": endpoint_id,
        "b_slots": slots,
        "b_cap": cap,
        "b_owner": relay.owner,
        "b_until": now + timedelta(seconds=relay.lease_seconds),
        "b_now": now,
    }
    return [
        _claim_of(row, relay.owner, destination, recheck=failing)
        for row in _RELAY.rows(session, params)
    ]


def _finish_row(o: Outcome) -> dict[str, Any]:
    return {
        "b_id": o.claim.delivery_id,
        "b_status": o.decision.status,
        "b_next": o.decision.next_attempt_at,
        "b_delivered": o.at if o.decision.status == DeliveryStatus.DELIVERED else None,
        "b_now": o.at,
    }


def _attempt_row(o: Outcome) -> dict[str, Any]:
    return {
        "id": new_id("att"),
        "delivery_id": o.claim.delivery_id,
        "attempt_number": o.claim.attempt_number,
        "status": AttemptStatus.SUCCEEDED if o.result.succeeded else AttemptStatus.FAILED,
        "response_status_code": o.result.status_code,
        "response_time_ms": o.result.response_time_ms,
        "error_message": o.result.error,
        "response_body": o.result.body_excerpt,
        "created_at": o.at,
    }
