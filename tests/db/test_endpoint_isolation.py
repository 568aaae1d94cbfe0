"""The claim's admission and the record's endpoint state, against a real database.

Every deferral is decided in the claim's transaction and costs no attempt; the record opens,
probes and closes the circuit, pauses on Retry-After and wakes parked deliveries.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import event, text, update
from sqlalchemy.orm import Session, sessionmaker

from app.db import utcnow
from app.models import ApiKey, Delivery, Endpoint
from app.retry import AttemptResult, Decision, decide
from app.services import endpoint_health, leases
from app.services.dispatch import take_due
from app.services.endpoint_health import Change, Policy, in_flight, wake_stranded
from app.services.leases import Claim, Outcome
from app.services.redelivery import retry_delivery
from tests.support import seed

POLICY = Policy(max_in_flight=3, circuit_failures=2, circuit_cooldown=10, disable_after=3600)
FAIL = AttemptResult(error="timeout")
OK = AttemptResult(status_code=200)


def _endpoint(sessions: sessionmaker[Session], **fields: object) -> tuple[ApiKey, str]:
    return seed.endpoint(sessions, "http://127.0.0.1:9/", **fields)


def _deliveries(
    sessions: sessionmaker[Session], key: ApiKey, endpoint_id: str, n: int
) -> list[str]:
    return seed.deliveries(sessions, key, endpoint_id, *({"i": i} for i in range(n)))


def _claim(
    sessions: sessionmaker[Session], ids: list[str], now: datetime, owner: str = "w"
) -> dict[str, Claim]:
    with sessions.begin() as session:
        return leases.claim_many(session, ids, owner, 30, now, POLICY)


def _record(
    sessions: sessionmaker[Session], claims: list[Claim], result: AttemptResult, now: datetime
) -> leases.Recorded:
    outcomes = [
        Outcome(c, result, decide(result, c.attempt_number, (1, 1, 1), now), now) for c in claims
    ]
    with sessions.begin() as session:
        return leases.record_group(session, outcomes, POLICY)


@contextmanager
def _statements(sessions: sessionmaker[Session]) -> Iterator[list[str]]:
    """The SQL statements run inside the block, in order."""
    engine = sessions.kw["bind"]
    statements: list[str] = []

    def record(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        statements.append(statement)

    event.listen(engine, "before_cursor_execute", record)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", record)


def _verbs(statements: list[str]) -> list[str]:
    verbs = [s.split(None, 1)[0].upper() for s in statements]
    return [v for v in verbs if v in ("SELECT", "INSERT", "UPDATE", "DELETE")]


def _row(sessions: sessionmaker[Session], model: type, id_: str):  # type: ignore[no-untyped-def]
    with sessions() as session:
        return session.get(model, id_)


def test_over_the_cap_is_parked_without_an_attempt_and_woken_when_a_slot_frees(
    sessions: sessionmaker[Session],
) -> None:
    key, endpoint_id = _endpoint(sessions)
    ids = _deliveries(sessions, key, endpoint_id, 5)
    now = utcnow()

    claims = _claim(sessions, ids, now)

    assert len(claims) == 3
    parked = [i for i in ids if i not in claims]
    for delivery_id in parked:
        row = _row(sessions, Delivery, delivery_id)
        assert (row.status, row.attempts, row.parked_at is not None) == ("pending", 0, True)
    with sessions.begin() as session:  # the scheduler leaves parked deliveries to the workers
        assert not set(take_due(session, now, requeue_after=60)) & set(parked)
    assert _claim(sessions, parked, now) == {}  # still full

    recorded = _record(sessions, [next(iter(claims.values()))], OK, now)

    assert len(recorded.woken) == 1 and recorded.woken[0] in parked
    assert _row(sessions, Delivery, recorded.woken[0]).parked_at is None
    assert list(_claim(sessions, recorded.woken, now)) == recorded.woken


def test_the_cap_holds_for_concurrent_claimers(sessions: sessionmaker[Session]) -> None:
    key, endpoint_id = _endpoint(sessions, max_in_flight=2)
    ids = _deliveries(sessions, key, endpoint_id, 8)
    barrier = threading.Barrier(len(ids))
    taken: list[str] = []

    def claim(delivery_id: str) -> None:
        barrier.wait()
        taken.extend(_claim(sessions, [delivery_id], utcnow(), owner=delivery_id))

    threads = [threading.Thread(target=claim, args=(d,)) for d in ids]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(taken) == 2


def test_a_lone_claim_is_three_statements(sessions: sessionmaker[Session]) -> None:
    """Its candidates with their endpoints locked, the endpoints' count in flight, the lease.

    Single sends are mostly claimed alone, so each statement more is a round trip and about
    0.17 ms of worker CPU per delivery (docs/performance.md, round 11).
    """
    key, endpoint_id = _endpoint(sessions)
    [delivery_id] = _deliveries(sessions, key, endpoint_id, 1)
    with _statements(sessions) as statements:
        claims = _claim(sessions, [delivery_id], utcnow())

    assert list(claims) == [delivery_id]
    assert _verbs(statements) == ["SELECT", "SELECT", "UPDATE"]


def test_a_full_endpoint_parks_its_due_backlog_whose_messages_then_cost_one_read(
    sessions: sessionmaker[Session],
) -> None:
    """One endpoint's burst must not cost a lock and a write per message: the claim that
    finds the endpoint full parks the whole due backlog, and each message of a parked
    delivery then finds nothing to claim with one read (before, each one locked the
    endpoint, counted its leases and parked itself)."""
    key, endpoint_id = _endpoint(sessions, max_in_flight=1)
    ids = _deliveries(sessions, key, endpoint_id, 6)
    now = utcnow()
    assert list(_claim(sessions, ids[:1], now)) == [ids[0]]

    assert _claim(sessions, ids[1:2], now) == {}  # full: this one parks, and the rest with it

    assert all(_row(sessions, Delivery, d).parked_at is not None for d in ids[1:])
    with _statements(sessions) as statements:
        assert _claim(sessions, ids[2:], now) == {}
    assert _verbs(statements) == ["SELECT"]
    with sessions.begin() as session:  # a freed slot goes to the oldest parked, as before
        woken = wake_stranded(session, POLICY, now + timedelta(seconds=31)).ids
    assert [d for d in woken if d in ids] == [ids[1]]


def test_a_claim_that_finds_the_circuit_open_holds_the_backlog_that_came_after(
    sessions: sessionmaker[Session],
) -> None:
    """Deliveries accepted after the circuit opened were not held by the record that opened
    it: the first claim to meet them holds them all, and their messages then cost one read
    (before, each one locked the endpoint and held itself)."""
    key, endpoint_id = _endpoint(sessions)
    now = utcnow()
    until = now + timedelta(seconds=30)
    with sessions.begin() as session:
        session.execute(
            update(Endpoint)
            .where(Endpoint.id == endpoint_id)
            .values(circuit_state="open", circuit_open_until=until)
        )
    ids = _deliveries(sessions, key, endpoint_id, 5)

    assert _claim(sessions, ids[:1], now) == {}

    assert all(_row(sessions, Delivery, d).next_attempt_at == until for d in ids)
    assert all(_row(sessions, Delivery, d).parked_at is not None for d in ids)
    with _statements(sessions) as statements:
        assert _claim(sessions, ids[1:], now) == {}
    assert _verbs(statements) == ["SELECT"]


def test_a_dead_workers_slot_comes_back_when_its_lease_ends(
    sessions: sessionmaker[Session],
) -> None:
    key, endpoint_id = _endpoint(sessions, max_in_flight=1)
    first, second = _deliveries(sessions, key, endpoint_id, 2)
    now = utcnow()
    assert list(_claim(sessions, [first], now)) == [first]
    assert _claim(sessions, [second], now) == {}
    later = now + timedelta(seconds=31)  # the first claim's 30 s lease ran out
    # Parked, the second goes only once woken: the scheduler's pass finds the slot free.
    assert _claim(sessions, [second], later) == {}
    with sessions.begin() as session:
        assert second in wake_stranded(session, POLICY, later).ids
    assert list(_claim(sessions, [second], later)) == [second]


def test_the_breaker_opens_holds_everything_probes_once_and_closes(
    sessions: sessionmaker[Session],
) -> None:
    key, endpoint_id = _endpoint(sessions)
    ids = _deliveries(sessions, key, endpoint_id, 6)
    now = utcnow()
    claims = _claim(sessions, ids[:2], now)

    recorded = _record(sessions, list(claims.values()), FAIL, now)

    endpoint = _row(sessions, Endpoint, endpoint_id)
    assert (endpoint.circuit_state, endpoint.consecutive_failures) == ("open", 2)
    assert endpoint.circuit_open_until == now + timedelta(seconds=10)
    assert [c.transition for c in recorded.changes] == [("closed", "open")]
    waiting = _row(sessions, Delivery, ids[2])
    assert waiting.next_attempt_at == endpoint.circuit_open_until  # held, not attempted
    assert _claim(sessions, ids[2:], now) == {}
    assert _row(sessions, Delivery, ids[2]).attempts == 0

    cooled = now + timedelta(seconds=10)
    probe = _claim(sessions, ids, cooled)
    assert len(probe) == 1
    assert _row(sessions, Endpoint, endpoint_id).circuit_state == "half_open"
    assert _claim(sessions, ids, cooled) == {}  # one probe at a time

    failed = _record(sessions, list(probe.values()), FAIL, cooled)
    endpoint = _row(sessions, Endpoint, endpoint_id)
    assert endpoint.circuit_state == "open" and endpoint.circuit_trips == 2
    assert endpoint.circuit_open_until == cooled + timedelta(seconds=20)  # the cooldown grows
    assert failed.changes[0].transition == ("half_open", "open")

    again = cooled + timedelta(seconds=20)
    probe = _claim(sessions, ids, again)
    closed = _record(sessions, list(probe.values()), OK, again)
    endpoint = _row(sessions, Endpoint, endpoint_id)
    assert (endpoint.circuit_state, endpoint.consecutive_failures) == ("closed", 0)
    assert closed.changes[0].transition == ("half_open", "closed")
    assert len(closed.woken) <= POLICY.max_in_flight
    assert len(_claim(sessions, ids, again)) == 3  # the backlog drains at the cap


def test_an_operator_retry_passes_an_open_circuit_and_is_the_probe(
    sessions: sessionmaker[Session],
) -> None:
    key, endpoint_id = _endpoint(sessions)
    ids = _deliveries(sessions, key, endpoint_id, 3)
    now = utcnow()
    claims = _claim(sessions, ids[:2], now)
    _record(sessions, list(claims.values()), FAIL, now)
    with sessions.begin() as session:
        session.execute(update(Delivery).where(Delivery.id == ids[0]).values(status="failed"))
        workspace_id = session.get(Endpoint, endpoint_id).workspace_id  # type: ignore[union-attr]
        retry_delivery(session, workspace_id, ids[0], now)

    assert list(_claim(sessions, ids, now)) == [ids[0]]
    assert _row(sessions, Delivery, ids[0]).operator_retry is False
    assert _row(sessions, Endpoint, endpoint_id).circuit_state == "half_open"


def test_retry_after_pauses_the_endpoint(sessions: sessionmaker[Session]) -> None:
    key, endpoint_id = _endpoint(sessions)
    ids = _deliveries(sessions, key, endpoint_id, 3)
    now = utcnow()
    claims = _claim(sessions, ids[:1], now)

    _record(sessions, list(claims.values()), AttemptResult(status_code=429, retry_after="30"), now)

    endpoint = _row(sessions, Endpoint, endpoint_id)
    assert endpoint.paused_until == now + timedelta(seconds=30)
    assert endpoint.circuit_state == "closed"  # a 429 is an answer, not a failure
    assert _row(sessions, Delivery, ids[1]).next_attempt_at == endpoint.paused_until
    assert _claim(sessions, ids[1:], now) == {}
    resumed = now + timedelta(seconds=30)
    probe = _claim(sessions, ids[1:], resumed)
    assert len(probe) == 1  # the pause is over: one probe first, not the whole backlog

    answered = _record(sessions, list(probe.values()), OK, resumed)

    assert _row(sessions, Endpoint, endpoint_id).paused_until is None
    # Then the rest at the cap: the backlog, and the first, due again once the pause ended.
    assert sorted(answered.woken) == sorted(d for d in ids if d not in probe)


def test_a_rate_limit_defers_to_later_slots(sessions: sessionmaker[Session]) -> None:
    key, endpoint_id = _endpoint(sessions, rate_limit=2.0, max_in_flight=100)
    ids = _deliveries(sessions, key, endpoint_id, 6)
    now = utcnow()

    claims = _claim(sessions, ids, now)

    assert len(claims) == 3  # now, plus one second's worth
    deferred = sorted(_row(sessions, Delivery, d).next_attempt_at for d in ids if d not in claims)
    assert deferred[0] > now and deferred == sorted(set(deferred))


def test_an_endpoint_failing_for_the_whole_period_is_disabled(
    sessions: sessionmaker[Session],
) -> None:
    key, endpoint_id = _endpoint(sessions)
    ids = _deliveries(sessions, key, endpoint_id, 2)
    start = utcnow()
    _record(sessions, list(_claim(sessions, ids[:1], start).values()), FAIL, start)
    with sessions.begin() as session:  # the breaker is not what this test is about
        session.execute(update(Endpoint).values(circuit_state="closed", circuit_open_until=None))
    later = start + timedelta(seconds=3600)
    _record(sessions, list(_claim(sessions, ids[1:], later).values()), FAIL, later)

    endpoint = _row(sessions, Endpoint, endpoint_id)
    assert endpoint.is_active is False
    assert endpoint.disabled_reason == "every attempt failed for 1 hour"


def test_a_success_resets_the_sustained_failure_clock(sessions: sessionmaker[Session]) -> None:
    key, endpoint_id = _endpoint(sessions)
    ids = _deliveries(sessions, key, endpoint_id, 2)
    start = utcnow()
    _record(sessions, list(_claim(sessions, ids[:1], start).values()), FAIL, start)
    assert _row(sessions, Endpoint, endpoint_id).failing_since == start
    _record(sessions, list(_claim(sessions, ids[1:], start).values()), OK, start)
    assert _row(sessions, Endpoint, endpoint_id).failing_since is None
    assert Decision  # imported for the type of the outcomes


def test_the_scheduler_wakes_a_parked_delivery_whose_slot_is_free(
    sessions: sessionmaker[Session],
) -> None:
    key, endpoint_id = _endpoint(sessions, max_in_flight=1)
    both = _deliveries(sessions, key, endpoint_id, 2)
    now = utcnow()
    claims = _claim(sessions, both, now)
    # One goes, the other is parked; which one is the claim's choice (ids made in one tick).
    [first] = list(claims)
    [second] = [d for d in both if d != first]
    with sessions.begin() as session:  # the slot is taken: nothing to wake yet
        assert wake_stranded(session, POLICY, now).ids == []
    with sessions.begin() as session:  # the attempt ends without waking (a missed wake-up)
        session.execute(update(Delivery).where(Delivery.id == first).values(status="delivered"))

    with sessions.begin() as session:
        assert wake_stranded(session, POLICY, now).ids == [second]
    assert _row(sessions, Delivery, second).parked_at is None


def test_a_held_backlog_is_woken_at_the_endpoints_pace_not_published_at_once(
    sessions: sessionmaker[Session],
) -> None:
    key, endpoint_id = _endpoint(sessions)
    ids = _deliveries(sessions, key, endpoint_id, 8)
    now = utcnow()
    _record(sessions, list(_claim(sessions, ids[:2], now).values()), FAIL, now)  # opens
    held = ids[2:]
    assert _claim(sessions, held, now) == {}  # their messages, consumed while open
    cooled = now + timedelta(seconds=10)

    with sessions.begin() as session:  # the cooldown is over: no flood into the queue
        assert not set(take_due(session, cooled, requeue_after=60)) & set(held)
    with sessions.begin() as session:  # (the database is shared: look at ours only)
        probe = [d for d in wake_stranded(session, POLICY, cooled).ids if d in ids]
    assert len(probe) == 1  # one probe goes first
    claims = _claim(sessions, probe, cooled)  # its message, published once woken
    assert list(claims) == probe
    with sessions.begin() as session:
        assert not set(wake_stranded(session, POLICY, cooled).ids) & set(ids)

    closed = _record(sessions, list(claims.values()), OK, cooled)

    assert len(closed.woken) == POLICY.max_in_flight  # then the backlog drains at the cap
    assert set(closed.woken) <= set(ids) - set(probe)


def test_operator_retries_through_an_open_circuit_go_one_at_a_time(
    sessions: sessionmaker[Session],
) -> None:
    key, endpoint_id = _endpoint(sessions)
    ids = _deliveries(sessions, key, endpoint_id, 4)
    now = utcnow()
    _record(sessions, list(_claim(sessions, ids[:2], now).values()), FAIL, now)  # opens
    with sessions.begin() as session:
        workspace_id = session.get(Endpoint, endpoint_id).workspace_id  # type: ignore[union-attr]
        for delivery_id in ids:
            session.execute(
                update(Delivery).where(Delivery.id == delivery_id).values(status="failed")
            )
            retry_delivery(session, workspace_id, delivery_id, now)

    assert len(_claim(sessions, ids, now)) == 1  # the probe, not the endpoint's whole cap


def test_the_scheduler_pages_through_every_endpoint_with_parked_deliveries(
    sessions: sessionmaker[Session],
) -> None:
    parked = []
    for _ in range(3):
        key, endpoint_id = _endpoint(sessions, max_in_flight=1)
        first, second = _deliveries(sessions, key, endpoint_id, 2)
        now = utcnow()
        _claim(sessions, [first], now)  # takes the slot
        _claim(sessions, [second], now)  # parked
        with sessions.begin() as session:  # ends without waking anyone (a missed wake-up)
            session.execute(update(Delivery).where(Delivery.id == first).values(status="delivered"))
        parked.append(second)

    woken, after = [], ""
    while after is not None:
        with sessions.begin() as session:
            page = wake_stranded(session, POLICY, utcnow(), after, limit=2)
        woken += page.ids
        after = page.next_after
    assert set(parked) <= set(woken)  # (others' parked deliveries may share the database)


def _record_relaying(
    sessions: sessionmaker[Session], claims: list[Claim], now: datetime
) -> leases.Recorded:
    outcomes = [Outcome(c, OK, decide(OK, c.attempt_number, (1, 1, 1), now), now) for c in claims]
    with sessions.begin() as session:
        return leases.record_group(session, outcomes, POLICY, leases.Relay("relay", 30))


def _in_flight(sessions: sessionmaker[Session], endpoint_id: str, now: datetime) -> int:
    with sessions() as session:
        return in_flight(session, [endpoint_id], now).get(endpoint_id, 0)


def test_a_record_relays_its_freed_slot_to_the_oldest_parked_delivery(
    sessions: sessionmaker[Session],
) -> None:
    key, endpoint_id = _endpoint(sessions)
    ids = _deliveries(sessions, key, endpoint_id, 5)
    now = utcnow()
    claims = _claim(sessions, ids, now)
    parked = [i for i in ids if i not in claims]

    recorded = _record_relaying(sessions, [next(iter(claims.values()))], now)

    [relayed] = recorded.relayed
    assert recorded.woken == []  # claimed in the record: no wake-up, no second claim
    assert relayed.delivery_id in parked and relayed.owner == "relay"
    assert relayed.endpoint.id == endpoint_id and relayed.attempt_number == 1
    row = _row(sessions, Delivery, relayed.delivery_id)
    assert (row.status, row.lease_owner, row.parked_at) == ("delivering", "relay", None)
    assert _in_flight(sessions, endpoint_id, now) == POLICY.max_in_flight  # handed over
    assert _claim(sessions, parked, now) == {}  # no one else got the freed slot


def test_a_relay_is_one_statement_bounded_by_the_cap_with_the_endpoint_as_it_is_now(
    sessions: sessionmaker[Session],
) -> None:
    """The relay adds two statements to the record: the endpoint's destination as it is now,
    and one UPDATE that leases the oldest parked deliveries, no more than the cap leaves free
    (four before: the oldest parked, the in-flight count, the endpoint, the lease)."""
    key, endpoint_id = _endpoint(sessions)
    ids = _deliveries(sessions, key, endpoint_id, 6)
    now = utcnow()
    claims = list(_claim(sessions, ids, now).values())
    with sessions.begin() as session:  # cap 3 -> 2 and a new URL while 3 are in flight
        session.execute(
            update(Endpoint)
            .where(Endpoint.id == endpoint_id)
            .values(max_in_flight=2, url="http://127.0.0.1:10/")
        )
    with _statements(sessions) as statements:
        recorded = _record_relaying(sessions, claims[:2], now)  # frees 2, 1 in flight

    [relayed] = recorded.relayed  # 2 slots freed, but the cap of 2 leaves 1
    assert relayed.delivery_id not in {c.delivery_id for c in claims}
    assert relayed.endpoint.url == "http://127.0.0.1:10/"
    assert _in_flight(sessions, endpoint_id, now) == 2
    # the endpoints' state, the leases, the attempts, the finish; the destination, the relay
    assert _verbs(statements) == ["SELECT", "SELECT", "INSERT", "UPDATE", "SELECT", "UPDATE"]


def test_no_relay_past_a_lowered_cap_or_for_a_rate_limited_endpoint(
    sessions: sessionmaker[Session],
) -> None:
    key, endpoint_id = _endpoint(sessions)
    ids = _deliveries(sessions, key, endpoint_id, 5)
    now = utcnow()
    claims = list(_claim(sessions, ids, now).values())
    with sessions.begin() as session:  # lowered to 1 while 3 are in flight
        session.execute(update(Endpoint).where(Endpoint.id == endpoint_id).values(max_in_flight=1))
    assert _record_relaying(sessions, claims[:1], now).relayed == []
    with sessions.begin() as session:
        session.execute(
            update(Endpoint)
            .where(Endpoint.id == endpoint_id)
            .values(max_in_flight=None, rate_limit=100.0)
        )

    recorded = _record_relaying(sessions, claims[1:2], now)

    assert recorded.relayed == [] and len(recorded.woken) == 1  # the claim gives out rate slots


def test_a_record_with_nothing_parked_looks_for_no_delivery_to_relay_or_wake(
    sessions: sessionmaker[Session],
) -> None:
    """Mostly nothing is parked: the record learns it with the endpoint's state and spends
    no statement looking for parked deliveries (it did on every record)."""
    key, endpoint_id = _endpoint(sessions)
    now = utcnow()
    [ok, failing] = _claim(sessions, _deliveries(sessions, key, endpoint_id, 2), now).values()
    with _statements(sessions) as statements:
        relaying = _record_relaying(sessions, [ok], now)  # healthy: the relay path
        failed = _record(sessions, [failing], FAIL, now)  # troubled: the locked read and wake

    assert relaying.relayed == [] and relaying.woken == [] and failed.woken == []
    looked = [s for s in statements if "ORDER BY deliveries.parked_at" in s]
    assert looked == []


def _rows_read(cursor: Any, statement: str, parameters: object) -> int:
    """The deliveries rows PostgreSQL reads to run `statement` where it stands in its
    transaction: returned or filtered out, by every scan of the table in its plan (run in a
    savepoint, then rolled back)."""
    db = cursor.connection
    db.execute("SAVEPOINT probe")
    plan = db.execute(f"EXPLAIN (ANALYZE, FORMAT JSON) {statement}", parameters).fetchone()[0]
    db.execute("ROLLBACK TO SAVEPOINT probe")
    read, nodes = 0, [plan[0]["Plan"]]
    while nodes:
        node = nodes.pop()
        nodes += node.get("Plans", [])
        if node.get("Relation Name") == "deliveries" and "Scan" in node["Node Type"]:
            read += node["Actual Rows"] * node["Actual Loops"] + node.get(
                "Rows Removed by Filter", 0
            )
    return read


def _copies(sessions: sessionmaker[Session], delivery_id: str, n: int, **values: object) -> None:
    """`n` copies of a delivery, each with `values` set, made by the database itself; then
    the table's statistics, as autovacuum would gather them."""
    names = [c.name for c in Delivery.__table__.columns]
    made = {"id": "id || '-' || g.n", "idempotency_key": "idempotency_key || '-' || g.n"}
    made |= {name: f":{name}" for name in values}
    columns, selected = ", ".join(names), ", ".join(made.get(name, name) for name in names)
    with sessions.begin() as session:
        session.execute(
            text(
                "WITH RECURSIVE g(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM g WHERE n < :n)"
                f" INSERT INTO deliveries ({columns}) SELECT {selected}"
                " FROM deliveries, g WHERE id = :id"
            ),
            {"n": n, "id": delivery_id, **values},
        )
        session.execute(text("ANALYZE deliveries"))


def test_a_relay_and_a_wake_look_up_the_few_parked_they_take_not_every_parked_row(
    sessions: sessionmaker[Session],
) -> None:
    """With thousands parked, a relay (and a wake-up) must cost a lookup of the rows it takes:
    as a join with the parked rows, one relay read all 33,000 parked (10 ms), and its group's
    leases, holding the endpoint's cap, waited on it while a backlog drained."""
    engine = sessions.kw["bind"]
    postgresql = engine.dialect.name == "postgresql"
    key, endpoint_id = _endpoint(sessions)
    ids = _deliveries(sessions, key, endpoint_id, 4)
    now = utcnow()
    claims = list(_claim(sessions, ids[:3], now).values())
    _copies(sessions, ids[3], 30_000, parked_at=now)
    read: list[int] = []

    def probe(_conn: object, cursor: Any, statement: str, parameters: object, *_: object) -> None:
        if (
            postgresql
            and "UPDATE deliveries SET" in statement
            and "parked_at IS NOT NULL" in statement
        ):
            read.append(_rows_read(cursor, statement, parameters))

    event.listen(engine, "before_cursor_execute", probe)
    try:
        with sessions() as session:
            outcome = Outcome(claims[0], OK, decide(OK, 1, (1, 1, 1), now), now)
            relayed = leases.record_group(session, [outcome], POLICY, leases.Relay("r", 30))
            woken = endpoint_health.apply_change(session, Change(endpoint_id, wake=2), now)
            session.rollback()
    finally:
        event.remove(engine, "before_cursor_execute", probe)

    assert len(relayed.relayed) == 1 and len(woken) == 2
    if postgresql:  # (SQLite has no planner statistics to mislead it this way)
        assert len(read) == 2 and max(read) < 100, read  # the few taken, not 30,000 parked


def test_the_in_flight_count_reads_the_leases_not_every_row_of_the_endpoint(
    sessions: sessionmaker[Session],
) -> None:
    """Every claim counts its endpoints' leases, with a statement the driver prepares after a
    few runs. With the status bound, PostgreSQL's generic plan of a prepared statement
    cannot use the in-flight partial index: it read every row the endpoint ever had (2,300
    in a benchmark turn, about a millisecond of the database's CPU per claim). SQLite uses
    the index as long as the statement's condition is written as the index's."""
    engine = sessions.kw["bind"]
    key, endpoint_id = _endpoint(sessions)
    ids = _deliveries(sessions, key, endpoint_id, 3)
    now = utcnow()
    _claim(sessions, ids[:2], now)
    _copies(sessions, ids[2], 2_000, status="delivered")
    with sessions.begin() as session:
        if engine.dialect.name == "postgresql":
            session.execute(text("SET LOCAL plan_cache_mode = force_generic_plan"))
            for _ in range(6):  # prepared from its sixth run (psycopg's prepare_threshold)
                in_flight(session, [endpoint_id], now)
            before = _deliveries_read(session)
            counts = in_flight(session, [endpoint_id], now)
            read = _deliveries_read(session) - before
            assert read <= 10, read  # the 2 leases, not the 2,003 rows of the endpoint
        else:
            run: list[tuple[str, Any]] = []

            def keep(_conn: object, _cursor: object, statement: str, params: Any, *_: Any) -> None:
                run.append((statement, params))

            event.listen(engine, "before_cursor_execute", keep)
            try:
                counts = in_flight(session, [endpoint_id], now)
            finally:
                event.remove(engine, "before_cursor_execute", keep)
            [(statement, params)] = [(s, p) for s, p in run if "count(" in s]
            conn = session.connection()
            plan = conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", params).all()
            assert "ix_deliveries_in_flight" in str(plan), plan

    assert counts == {endpoint_id: 2}


def _deliveries_read(session: Session) -> int:
    """Rows of deliveries this transaction has read so far, by any scan."""
    return session.execute(
        text(
            "SELECT coalesce(seq_tup_read, 0) + coalesce(idx_tup_fetch, 0)"
            " FROM pg_stat_xact_user_tables WHERE relname = 'deliveries'"
        )
    ).scalar_one()


def test_opening_the_circuit_rewrites_only_the_waiting_deliveries_not_parked_yet(
    sessions: sessionmaker[Session],
) -> None:
    """The record that opens a circuit holds what is not parked; the parked backlog (a burst
    parked by the cap) stays untouched, since nothing wakes it while the circuit is open.
    Before, it rewrote every parked row too: thousands, tens of milliseconds of the
    database's CPU that other endpoints' deliveries waited behind. After the cooldown the
    backlog still goes one probe first."""
    key, endpoint_id = _endpoint(sessions, max_in_flight=2)
    ids = _deliveries(sessions, key, endpoint_id, 6)
    now = utcnow()
    claims = _claim(sessions, ids[:3], now)  # two taken; the third finds it full: all park
    parked = [d for d in ids if d not in claims]
    before = {d: _row(sessions, Delivery, d) for d in parked}
    assert all(row.parked_at is not None for row in before.values())
    with sessions.begin() as session:  # a retry, due and waiting, not parked
        session.execute(update(Delivery).where(Delivery.id == parked[-1]).values(parked_at=None))
    later = now + timedelta(seconds=1)

    _record(sessions, list(claims.values()), FAIL, later)

    until = _row(sessions, Endpoint, endpoint_id).circuit_open_until
    assert until == later + timedelta(seconds=10)
    for d in parked[:-1]:
        row = _row(sessions, Delivery, d)
        assert (row.parked_at, row.next_attempt_at, row.updated_at) == (
            before[d].parked_at,
            before[d].next_attempt_at,
            before[d].updated_at,
        )
    assert _row(sessions, Delivery, parked[-1]).next_attempt_at == until  # held
    with sessions.begin() as session:  # nothing is woken while the circuit is open
        woken = wake_stranded(session, POLICY, later + timedelta(seconds=5)).ids
    assert [d for d in woken if d in ids] == []
    with sessions.begin() as session:  # then one probe, of the parked longest
        woken = wake_stranded(session, POLICY, until).ids
    [probe] = [d for d in woken if d in ids]
    assert probe in parked[:-1]
