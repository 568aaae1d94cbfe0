"""Endpoint isolation: who may be sent now, and what each finished attempt says of its endpoint.

Each endpoint's state lives on its row, so every worker process on every host sees the same:
a concurrency cap (attempts in flight, counted from unexpired leases, so a dead worker's slot
comes back when its lease ends), an optional rate limit, a circuit breaker, a pause a
receiver asked for with `Retry-After`, and the start of a run of failures. The claim and the
record lock the endpoint rows first, in id order, and decide under that lock.

A delivery that may not go now is deferred in the claim's transaction, never attempted:
over the cap it is parked until an attempt to its endpoint finishes and wakes it; while the
circuit is open or the endpoint paused it is parked too, held until the cooldown or the pause
ends, and then woken no faster than the endpoint takes them (one probe first), so a backlog
never floods the queue ahead of other endpoints' deliveries; over its rate, its
`next_attempt_at` moves to its own later slot and the scheduler publishes it then. A worker
thread never waits for either.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from types import SimpleNamespace
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    FromClause,
    Select,
    and_,
    bindparam,
    case,
    exists,
    func,
    select,
)
from sqlalchemy.orm import Session

from app import metrics
from app.config import Settings
from app.db import UTCDateTime, picked_by, status_in
from app.domain import WAITING_STATUSES, DeliveryStatus
from app.driver import Statement
from app.models import Delivery, Endpoint
from app.retry import AttemptResult, parse_retry_after

log = logging.getLogger("hookrelay.endpoints")
deliveries = Delivery.__table__
endpoints = Endpoint.__table__
Executor = Session | Connection
RATE_BURST_SECONDS = 1.0  # a rate-limited endpoint may get up to one second's worth at once


@dataclass(frozen=True)
class Policy:
    """The server-wide isolation settings (each endpoint may override the cap and the rate)."""

    max_in_flight: int = 32
    circuit_failures: int = 10
    circuit_cooldown: float = 30.0
    circuit_cooldown_max: float = 1800.0
    disable_after: float = 5 * 86400.0

    @classmethod
    def from_settings(cls, settings: Settings) -> Policy:
        return cls(
            settings.endpoint_max_in_flight,
            settings.circuit_failures,
            settings.circuit_cooldown,
            settings.circuit_cooldown_max,
            settings.disable_after,
        )

    def cap(self, state: Any) -> int:
        """The endpoint's own cap on attempts in flight, or the server default."""
        return int(state.max_in_flight or self.max_in_flight)

    def slots(self, state: Any) -> int:
        """Attempts the endpoint may have in flight now: its cap, or a single probe while its
        circuit is not closed (open: an operator's retry may pass; cooled down; half open)
        or a pause has just ended, until an answer says the endpoint is back."""
        probing = state.circuit_state != "closed" or state.paused_until is not None
        return 1 if probing else self.cap(state)

    def cooldown(self, trips: int) -> float:
        """Seconds the circuit stays open after its `trips`-th opening in a row: doubling."""
        return min(self.circuit_cooldown * 2 ** max(0, trips - 1), self.circuit_cooldown_max)


# The endpoint state the claim and the record read under the row lock.
STATE_COLUMNS = (
    "id",
    "is_active",
    "max_in_flight",
    "rate_limit",
    "rate_next_at",
    "circuit_state",
    "consecutive_failures",
    "circuit_trips",
    "circuit_open_until",
    "paused_until",
    "failing_since",
)


@dataclass
class Admission:
    """What the claim does with the waiting deliveries of one group, per delivery id."""

    claim: list[str] = field(default_factory=list)
    park: list[str] = field(default_factory=list)  # over the cap: until a slot frees
    full: set[str] = field(default_factory=set)  # found full: their due backlog parks too
    hold: dict[str, datetime] = field(default_factory=dict)  # parked until the block ends
    blocked: dict[str, datetime] = field(default_factory=dict)  # endpoint: its backlog too
    defer: dict[str, datetime] = field(default_factory=dict)  # to a later rate slot
    endpoint_updates: list[dict[str, Any]] = field(default_factory=list)
    reasons: dict[str, int] = field(default_factory=dict)
    changes: list[Change] = field(default_factory=list)  # circuits a probe half-opened

    def count(self, reason: str, n: int = 1) -> None:
        if n:
            self.reasons[reason] = self.reasons.get(reason, 0) + n


def admit(
    state: Any,
    waiting: Sequence[Any],
    in_flight: int,
    policy: Policy,
    now: datetime,
    into: Admission,
) -> None:
    """Split one endpoint's claimable deliveries (rows with `id`, `operator_retry`) into
    claimed, parked and deferred, and note the endpoint's new state in `into`."""
    if not state.is_active:
        into.claim.extend(row.id for row in waiting)  # recorded as refused, never sent
        return
    blocked = blocked_until(state, now)
    circuit = state.circuit_state
    # Operator retries go first: they pass an open circuit or a pause (they are the probe).
    ordered = sorted(waiting, key=lambda row: not row.operator_retry)
    free = max(0, policy.slots(state) - in_flight)
    interval = 1.0 / state.rate_limit if state.rate_limit else 0.0
    # GCRA: `next_slot` is when the rate would next allow one; up to a second ahead passes.
    next_slot = max(state.rate_next_at or now, now)
    burst = timedelta(seconds=RATE_BURST_SECONDS)
    queued = 0  # deferred for the rate: each gets its own later slot, reserved by no one
    probing = False
    for row in ordered:
        if blocked is not None and not row.operator_retry:
            into.hold[row.id] = blocked
            into.blocked[state.id] = blocked
            into.count("circuit_open" if circuit == "open" else "paused")
        elif free <= 0:
            into.park.append(row.id)
            into.full.add(state.id)
            into.count("max_in_flight")
        elif interval and next_slot > now + burst:
            into.defer[row.id] = next_slot - burst + timedelta(seconds=interval * queued)
            queued += 1
            into.count("rate_limit")
        else:
            into.claim.append(row.id)
            free -= 1
            probing = probing or circuit == "open"
            if interval:
                next_slot += timedelta(seconds=interval)
    update: dict[str, Any] = {}
    if probing:
        update["circuit_state"] = "half_open"
        into.changes.append(
            Change(
                state.id,
                {"consecutive_failures": state.consecutive_failures},
                transition=(circuit, "half_open"),
            )
        )
    if interval and next_slot != max(state.rate_next_at or now, now):
        update["rate_next_at"] = next_slot
    if update:
        into.endpoint_updates.append({"id": state.id, **update})


def blocked_until(state: Any, now: datetime) -> datetime | None:
    """Until when nothing but an operator's retry may go to this endpoint, if at all."""
    until = None
    opened = state.circuit_open_until
    if state.circuit_state == "open" and opened is not None and opened > now:
        until = opened
    if state.paused_until is not None and state.paused_until > now:
        until = max(until or state.paused_until, state.paused_until)
    return until


def is_failure(result: AttemptResult) -> bool:
    """What counts against the circuit: no answer (timeout, connection error) or a 5xx."""
    if result.refused:
        return False
    return result.status_code is None or result.status_code >= 500


@dataclass
class Change:
    """What one group's outcomes did to one endpoint, to write and then to announce."""

    endpoint_id: str
    values: dict[str, Any] = field(default_factory=dict)
    hold_until: datetime | None = None  # move the endpoint's waiting deliveries to this time
    wake: int = 0  # parked deliveries to wake (slots freed)
    transition: tuple[str, str] | None = None  # circuit state (from, to)


def observe(
    state: Any, results: Sequence[tuple[AttemptResult, datetime]], policy: Policy
) -> Change:
    """Fold one endpoint's finished attempts, in order, into its circuit, pause and clock."""
    change = Change(state.id, wake=len(results))
    circuit = state.circuit_state
    failures = state.consecutive_failures
    trips = state.circuit_trips
    open_until = state.circuit_open_until
    failing_since = state.failing_since
    paused_until = state.paused_until
    disabled = False
    for result, at in results:
        if result.refused:
            continue
        if not is_failure(result):
            failures, trips, failing_since, open_until = 0, 0, None, None
            circuit = "closed"
        else:
            failures += 1
            failing_since = failing_since or at
            if circuit == "half_open" or (
                circuit == "closed" and failures >= policy.circuit_failures
            ):
                trips += 1
                circuit = "open"
                open_until = at + timedelta(seconds=policy.cooldown(trips))
            if (at - failing_since).total_seconds() >= policy.disable_after:
                disabled = True
        asked = None
        if result.status_code in (429, 503):
            asked = parse_retry_after(result.retry_after, at)
        if asked:
            until = at + timedelta(seconds=asked)
            paused_until = max(paused_until or until, until)
        elif paused_until is not None and paused_until <= at:
            paused_until = None  # the probe after a pause got an answer: resume
    values = {
        "circuit_state": circuit,
        "consecutive_failures": failures,
        "circuit_trips": trips,
        "circuit_open_until": open_until,
        "failing_since": failing_since,
        "paused_until": paused_until,
    }
    change.values = {k: v for k, v in values.items() if getattr(state, k) != v}
    if disabled:
        change.values["is_active"] = False
        change.values["disabled_reason"] = f"every attempt failed for {_span(policy.disable_after)}"
    if circuit != state.circuit_state:
        change.transition = (state.circuit_state, circuit)
    resumed = circuit != state.circuit_state or (state.paused_until and paused_until is None)
    if resumed and circuit == "closed" and paused_until is None:
        change.wake = max(change.wake, policy.cap(state))  # the backlog drains at the cap
    holds = []
    if circuit == "open" and change.transition is not None and open_until is not None:
        holds.append(open_until)
    if paused_until is not None and paused_until != state.paused_until:
        holds.append(paused_until)
    if holds:
        change.hold_until = max(holds)
    if holds or blocked_until(state_after(state, change), results[-1][1]) is not None:
        change.wake = 0  # blocked: its parked deliveries wait for the probe (`wake_stranded`)
    return change


def state_after(state: Any, change: Change) -> SimpleNamespace:
    """The endpoint's state columns as `change` leaves them."""
    return SimpleNamespace(
        **{name: change.values.get(name, getattr(state, name)) for name in STATE_COLUMNS}
    )


def relayable(after: Any, change: Change, finished: int) -> int:
    """How many of the slots `finished` attempts freed may pass straight to parked deliveries
    (`after`: the endpoint's state as `change` leaves it, see `state_after`).

    Only where nothing but the cap held them back: an endpoint active, its circuit closed,
    not paused and with no rate limit (a rate's slots are given out by the claim).
    """
    if (
        not after.is_active
        or after.circuit_state != "closed"
        or after.paused_until is not None
        or after.rate_limit
    ):
        return 0
    return max(0, min(finished, change.wake))


_UNITS = (("day", 86400.0), ("hour", 3600.0), ("minute", 60.0))


def _span(seconds: float) -> str:
    """A period in the largest unit it fills: "5 days", "1 hour", "3 seconds"."""
    unit, size = next(((u, s) for u, s in _UNITS if seconds >= s), ("second", 1.0))
    n = round(seconds / size, 2)
    return f"{n:g} {unit}{'' if n == 1 else 's'}"


# SQL -----------------------------------------------------------------------------------------

_NOW = bindparam("b_now", type_=UTCDateTime())
_STATES = (
    select(*(endpoints.c[name] for name in STATE_COLUMNS))
    .where(endpoints.c.id.in_(bindparam("b_ids", expanding=True)))
    .order_by(endpoints.c.id)
)
# A record asks too whether anything is parked (an index probe of `ix_deliveries_parked`):
# mostly nothing is, and then it spends no statement looking for deliveries to relay or wake.
_RECORD_STATES = _STATES.add_columns(
    exists()
    .where(deliveries.c.endpoint_id == endpoints.c.id, deliveries.c.parked_at.is_not(None))
    .label("has_parked")
)
# FOR NO KEY UPDATE on PostgreSQL, so ingest's foreign-key checks go on; nothing on SQLite,
# whose immediate transactions are serialized already.
_LOCKED_STATES = _STATES.with_for_update(key_share=True)
_LOCKED_RECORD_STATES = _RECORD_STATES.with_for_update(key_share=True)
_READ_RECORD_STATES = Statement(_RECORD_STATES)


def leased_now(table: FromClause) -> ColumnElement[bool]:
    """The condition of a delivery in flight: leased, and the lease not run out (`table` is
    the deliveries table or an alias of it)."""
    in_flight = status_in(table.c.status, [DeliveryStatus.DELIVERING])
    return and_(in_flight, table.c.lease_expires_at >= _NOW)


def parked_first(table: FromClause, limit: Any) -> Select[tuple[str]]:
    """Up to `limit` of endpoint `b_endpoint`'s parked deliveries that may go now, oldest
    first, locked for the caller (`table` is the deliveries table or an alias of it).

    On PostgreSQL, records waking or relaying at once take different rows instead of
    queueing for the same oldest ones (SQLite serializes writers already); a row is checked
    again once locked, so an update of the rows picked (`picked_by`) needs no condition of
    its own, which could lead the planner to scan every parked row instead of looking up
    the few picked.
    """
    return (
        select(table.c.id)
        .where(
            table.c.endpoint_id == bindparam("b_endpoint"),
            table.c.parked_at.isnot(None),
            status_in(table.c.status, WAITING_STATUSES),
            table.c.next_attempt_at <= _NOW,
        )
        .order_by(table.c.parked_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )


_IN_FLIGHT = Statement(
    select(deliveries.c.endpoint_id, func.count())
    .where(deliveries.c.endpoint_id.in_(bindparam("b_ids", expanding=True)), leased_now(deliveries))
    .group_by(deliveries.c.endpoint_id)
)
_RELEASED = {
    # A delivery reclaimed from a dead worker was attempted: it waits as a retry.
    "status": case(
        (deliveries.c.status == DeliveryStatus.DELIVERING, DeliveryStatus.SCHEDULED_RETRY),
        else_=deliveries.c.status,
    ),
    "lease_owner": None,
    "lease_expires_at": None,
    "updated_at": _NOW,
}


def lock_states(
    session: Executor, endpoint_ids: Sequence[str], statement: Any = None
) -> dict[str, Any]:
    """Lock the endpoints' rows in id order (the same order in claim and record) and read them
    (with `statement`'s columns: a record's read also says what is parked)."""
    ids = sorted(set(endpoint_ids))
    locked = session.execute(_LOCKED_STATES if statement is None else statement, {"b_ids": ids})
    return {row.id: row for row in locked}


def record_states(
    session: Executor, results: dict[str, list[tuple[AttemptResult, datetime]]]
) -> tuple[dict[str, Any], set[str]]:
    """The endpoints' state for a record, locked only where the outcomes may change it, and
    which of them have parked deliveries (none: nothing to relay or wake, no query for it).

    An endpoint in good health whose attempts all got an answer stays as it is, so the
    record of a healthy group takes no endpoint lock and the records of one busy endpoint
    run side by side instead of one after another. The others are locked in id order (the
    claim's order) before any delivery row is. Unlocked, a claim that parks a delivery while
    this record frees its slot can miss this record's wake-up; `wake_stranded`, run by the
    scheduler every pass, wakes such a delivery.
    """
    ids = sorted(results)
    states = {row.id: row for row in _READ_RECORD_STATES.rows(session, {"b_ids": ids})}
    troubled = [
        endpoint_id
        for endpoint_id, state in states.items()
        if not is_healthy(state) or any(_may_change(result) for result, _ in results[endpoint_id])
    ]
    if troubled:
        states.update(lock_states(session, troubled, _LOCKED_RECORD_STATES))
    return states, {endpoint_id for endpoint_id, row in states.items() if row.has_parked}


def is_healthy(state: Any) -> bool:
    """Closed, paused by no one, and no failure since the last success."""
    return (
        state.circuit_state == "closed"
        and not state.consecutive_failures
        and state.failing_since is None
        and state.paused_until is None
    )


def _may_change(result: AttemptResult) -> bool:
    return is_failure(result) or result.status_code in (429, 503)


# Held deliveries wait with `next_attempt_at` at the end of their endpoint's block, so the
# endpoints found here are the ones that may take some now.
_PARKED_ENDPOINTS = (
    select(deliveries.c.endpoint_id)
    .where(
        deliveries.c.parked_at.isnot(None),
        deliveries.c.next_attempt_at <= _NOW,
        deliveries.c.endpoint_id > bindparam("b_after"),
    )
    .distinct()
    .order_by(deliveries.c.endpoint_id)
    .limit(bindparam("b_limit"))
)


@dataclass
class Woken:
    """One page of `wake_stranded`: the deliveries woken, and where the next page starts."""

    ids: list[str]
    next_after: str | None  # None: no endpoint left to look at


def wake_stranded(
    session: Executor, policy: Policy, now: datetime, after: str = "", limit: int = 100
) -> Woken:
    """Wake parked deliveries of endpoints that have free slots now, one page of endpoints
    (ids after `after`) at a time.

    A parked delivery waits for a record of its endpoint to wake it, except at the end of a
    cooldown or a pause (nothing is in flight to wake it then) and when a wake-up was missed
    (see `record_states`): the scheduler pages through every such endpoint each pass.
    """
    parked = list(
        session.scalars(_PARKED_ENDPOINTS, {"b_limit": limit, "b_after": after, "b_now": now})
    )
    if not parked:
        return Woken([], None)
    states = lock_states(session, parked)
    counts = in_flight(session, parked, now)
    woken: list[str] = []
    for endpoint_id, state in states.items():
        if blocked_until(state, now) is not None:
            continue
        free = policy.slots(state) - counts.get(endpoint_id, 0)
        if free > 0:
            woken += apply_change(session, Change(endpoint_id, wake=free), now)
    return Woken(woken, parked[-1] if len(parked) == limit else None)


def in_flight(session: Executor, endpoint_ids: Sequence[str], now: datetime) -> dict[str, int]:
    """Attempts in flight per endpoint: leased and the lease not run out."""
    rows = _IN_FLIGHT.rows(session, {"b_ids": list(endpoint_ids), "b_now": now})
    return {endpoint_id: count for endpoint_id, count in rows}


# A burst to one endpoint queues far more messages than its cap admits. The claim that finds
# the endpoint full parks its due backlog with the group's own deliveries, so each message of
# it then finds nothing to claim in one read, instead of locking the endpoint, counting its
# leases and parking itself, while other endpoints' deliveries wait behind it. At most
# `BACKLOG_PARKED` rows a time, the oldest due first, skipping rows another claim holds;
# the partial index `ix_deliveries_unparked` finds them without reading the parked ones.
BACKLOG_PARKED = 1000
_BACKLOG = deliveries.alias("backlog")
_PARK_BACKLOG = (
    deliveries.update()
    .where(
        picked_by(
            deliveries.c.id,
            select(_BACKLOG.c.id)
            .where(
                _BACKLOG.c.endpoint_id == bindparam("b_endpoint"),
                status_in(_BACKLOG.c.status, WAITING_STATUSES),
                _BACKLOG.c.next_attempt_at <= _NOW,
                _BACKLOG.c.parked_at.is_(None),
                _BACKLOG.c.operator_retry.is_(False),
                _BACKLOG.c.id.not_in(bindparam("b_claimed", expanding=True)),
            )
            .order_by(_BACKLOG.c.next_attempt_at)
            .limit(BACKLOG_PARKED)
            .with_for_update(skip_locked=True),
        )
    )
    .values(parked_at=_NOW, enqueued_at=_NOW)
)


def apply_admission(session: Executor, plan: Admission, claimable: Any, now: datetime) -> None:
    """Park and defer what may not go now, still only while each is claimable, and park
    the due backlog of each endpoint in `plan.full` with it (see `_PARK_BACKLOG`), and
    hold that of each endpoint in `plan.blocked` until its block ends."""
    if plan.park:
        session.execute(
            deliveries.update()
            .where(deliveries.c.id.in_(bindparam("b_ids", expanding=True)), claimable)
            .values(parked_at=_NOW, enqueued_at=_NOW, **_RELEASED),
            {"b_ids": plan.park, "b_now": now},
        )
    for endpoint_id in sorted(plan.full):
        params = {"b_endpoint": endpoint_id, "b_now": now, "b_claimed": plan.claim}
        session.execute(_PARK_BACKLOG, params)
    for endpoint_id, until in sorted(plan.blocked.items()):
        hold_backlog(session, endpoint_id, until, now)
    _wait_until(session, claimable, plan.hold, now, parked=True)
    _wait_until(session, claimable, plan.defer, now, parked=False)
    for update in plan.endpoint_updates:
        values = {k: v for k, v in update.items() if k != "id"}
        session.execute(endpoints.update().where(endpoints.c.id == update["id"]).values(values))
    for reason, n in plan.reasons.items():
        metrics.DEFERRALS.labels(reason).inc(n)


def _wait_until(
    session: Executor, claimable: Any, until: dict[str, datetime], now: datetime, parked: bool
) -> None:
    """Let each delivery wait until its time, still only while it is claimable: parked, a
    wake-up brings it then (a hold); not parked, the scheduler publishes it then (a rate)."""
    if not until:
        return
    marked = _NOW if parked else None
    session.execute(
        deliveries.update()
        .where(deliveries.c.id == bindparam("b_id"), claimable)
        .values(
            next_attempt_at=bindparam("b_until", type_=UTCDateTime()),
            parked_at=marked,
            enqueued_at=marked,
            **_RELEASED,
        ),
        [{"b_id": i, "b_until": at, "b_now": now} for i, at in until.items()],
    )


def hold_backlog(session: Executor, endpoint_id: str, until: datetime, now: datetime) -> None:
    """Hold the endpoint's waiting deliveries not parked yet (but an operator's retries)
    until `until`: parked, not merely due later, so that at the end of the hold they are
    woken at the endpoint's pace instead of all being published at once (see
    `wake_stranded`); until then their messages find nothing due to claim.

    Those parked already stay as they are: nothing wakes them while the endpoint is blocked,
    and rewriting each of them (thousands, when a burst met a hanging endpoint) cost the
    transaction that opened the circuit tens of milliseconds of the database's CPU, which
    every other endpoint's deliveries waited behind (docs/reliability.md). The partial index
    `ix_deliveries_unparked` finds the others without reading the parked ones.
    """
    session.execute(
        deliveries.update()
        .where(
            deliveries.c.endpoint_id == endpoint_id,
            status_in(deliveries.c.status, WAITING_STATUSES),
            deliveries.c.next_attempt_at < until,
            deliveries.c.operator_retry.is_(False),
            deliveries.c.parked_at.is_(None),
        )
        .values(next_attempt_at=until, parked_at=now, enqueued_at=now, updated_at=now)
    )


def apply_change(session: Executor, change: Change, now: datetime) -> list[str]:
    """Write one endpoint's new state, hold its waiting deliveries, wake parked ones.

    Returns the ids woken, for the caller to publish after the commit.
    """
    if change.values:
        session.execute(
            endpoints.update()
            .where(endpoints.c.id == change.endpoint_id)
            .values(**change.values, updated_at=now)
        )
    if change.hold_until is not None:
        hold_backlog(session, change.endpoint_id, change.hold_until, now)
    if change.wake <= 0:
        return []
    params = {"b_endpoint": change.endpoint_id, "b_limit": change.wake, "b_now": now}
    return list(session.scalars(_WAKE, params))


# The endpoint's oldest parked deliveries, unparked for their messages to be published.
_WAKE = (
    deliveries.update()
    .where(
        picked_by(deliveries.c.id, parked_first(deliveries.alias("parked"), bindparam("b_limit")))
    )
    .values(parked_at=None, enqueued_at=_NOW)
    .returning(deliveries.c.id)
)


def announce(change: Change) -> None:
    """The metric and the log line of a circuit's change of state (after the commit)."""
    if change.transition is not None:
        before, after = change.transition
        metrics.CIRCUIT_TRANSITIONS.labels(after).inc()
        until = change.values.get("circuit_open_until")
        log.log(
            logging.WARNING if after == "open" else logging.INFO,
            "endpoint circuit changed",
            extra={
                "endpoint_id": change.endpoint_id,
                "from": before,
                "to": after,
                "consecutive_failures": change.values.get("consecutive_failures"),
                "open_until": until.isoformat() if until else None,
            },
        )
    if change.values.get("is_active") is False:
        log.warning(
            "endpoint disabled",
            extra={"endpoint_id": change.endpoint_id, "reason": change.values["disabled_reason"]},
        )
