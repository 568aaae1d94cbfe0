"""Claims, leases and fencing against a real database (SQLite and PostgreSQL)."""

from __future__ import annotations

import threading
from datetime import timedelta

from sqlalchemy import delete
from sqlalchemy.orm import Session, sessionmaker

from app.db import utcnow
from app.ids import new_id
from app.models import ApiKey, Delivery, Endpoint
from app.retry import AttemptResult, Decision
from app.services import delivering
from app.services.dispatch import take_due
from app.services.ingest import IngestItem, ingest
from tests.support import seed


def _key_and_endpoint(sessions: sessionmaker[Session]) -> tuple[ApiKey, str]:
    return seed.endpoint(sessions, "http://127.0.0.1:9/")


def _delivery(sessions: sessionmaker[Session]) -> str:
    key, endpoint_id = _key_and_endpoint(sessions)
    with sessions.begin() as session:
        [outcome] = ingest(
            session.connection(),
            key,
            [IngestItem(0, endpoint_id, {"a": 1})],
            max_payload_bytes=1000,
            now=utcnow(),
        )
    assert outcome.delivery_id is not None
    return outcome.delivery_id


def test_only_one_of_many_concurrent_claimers_wins(sessions: sessionmaker[Session]) -> None:
    delivery_id = _delivery(sessions)
    winners: list[str] = []
    barrier = threading.Barrier(6)

    def claim(owner: str) -> None:
        barrier.wait()
        with sessions.begin() as session:
            if delivering.claim(session, delivery_id, owner, 30, utcnow()):
                winners.append(owner)

    threads = [threading.Thread(target=claim, args=(f"w{i}",)) for i in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(winners) == 1


def test_expired_lease_is_reclaimed_and_the_old_owner_is_fenced(
    sessions: sessionmaker[Session],
) -> None:
    delivery_id = _delivery(sessions)
    start = utcnow()
    with sessions.begin() as session:
        old = delivering.claim(session, delivery_id, "old", 5, start)
    assert old is not None and old.attempt_number == 1
    with sessions.begin() as session:  # still leased: nobody else may take it
        assert (
            delivering.claim(session, delivery_id, "new", 5, start + timedelta(seconds=4)) is None
        )
    with sessions.begin() as session:
        new = delivering.claim(session, delivery_id, "new", 5, start + timedelta(seconds=6))
    assert new is not None and new.attempt_number == 2

    now = start + timedelta(seconds=7)
    with sessions.begin() as session:
        assert delivering.record(
            session, new, AttemptResult(status_code=200), Decision("delivered"), now
        )
    with sessions.begin() as session:  # the late, expired owner cannot overwrite it
        assert not delivering.record(
            session, old, AttemptResult(status_code=500), Decision("dead_letter"), now
        )
    with sessions() as session:
        delivery = session.get(Delivery, delivery_id)
        assert delivery is not None and delivery.status == "delivered"
    assert len(_attempts(sessions, delivery_id)) == 2  # both attempts happened and are kept


def _attempts(sessions: sessionmaker[Session], delivery_id: str) -> list[int]:
    from app.models import Attempt

    with sessions() as session:
        return [a.attempt_number for a in session.query(Attempt).filter_by(delivery_id=delivery_id)]


def test_scheduler_takes_due_lost_and_orphaned_but_not_future_work(
    sessions: sessionmaker[Session],
) -> None:
    lost, future, orphaned, fresh = (_delivery(sessions) for _ in range(4))
    now = utcnow()
    with sessions.begin() as session:
        table = Delivery.__table__
        session.execute(
            table.update()
            .where(table.c.id == lost)
            .values(enqueued_at=now - timedelta(seconds=120))
        )
        session.execute(
            table.update()
            .where(table.c.id == future)
            .values(
                status="scheduled_retry", enqueued_at=None, next_attempt_at=now + timedelta(hours=1)
            )
        )
        session.execute(
            table.update()
            .where(table.c.id == orphaned)
            .values(
                status="delivering",
                lease_owner="dead",
                enqueued_at=now - timedelta(seconds=120),
                lease_expires_at=now - timedelta(seconds=1),
            )
        )
    with sessions.begin() as session:
        taken = set(take_due(session, now, requeue_after=60))
    assert {lost, orphaned} <= taken
    assert future not in taken and fresh not in taken
    with sessions.begin() as session:  # stamped: the next pass does not publish them again
        assert not {lost, orphaned} & set(take_due(session, now, requeue_after=60))


def test_expired_idempotency_key_is_taken_over(sessions: sessionmaker[Session]) -> None:
    key, endpoint_id = _key_and_endpoint(sessions)
    item = IngestItem(0, endpoint_id, {"a": 1}, idempotency_key=new_id("k"))
    now = utcnow()
    with sessions.begin() as session:
        [first] = ingest(session.connection(), key, [item], max_payload_bytes=1000, now=now)
    with sessions.begin() as session:
        [repeat] = ingest(
            session.connection(),
            key,
            [item],
            max_payload_bytes=1000,
            now=now + timedelta(minutes=14),
        )
    with sessions.begin() as session:
        [later] = ingest(
            session.connection(),
            key,
            [item],
            max_payload_bytes=1000,
            now=now + timedelta(minutes=16),
        )
    assert repeat.delivery_id == first.delivery_id and not repeat.created
    assert later.created and later.delivery_id != first.delivery_id


def test_recording_after_the_endpoint_was_deleted_is_a_no_op(
    sessions: sessionmaker[Session],
) -> None:
    delivery_id = _delivery(sessions)
    now = utcnow()
    with sessions.begin() as session:
        taken = delivering.claim(session, delivery_id, "w1", 30, now)
    assert taken is not None
    with sessions.begin() as session:
        session.execute(delete(Endpoint).where(Endpoint.id == taken.endpoint.id))
    with sessions.begin() as session:
        recorded = delivering.record(
            session, taken, AttemptResult(status_code=200), Decision("delivered"), now
        )
    assert recorded is False


def test_a_group_claims_each_due_delivery_once_and_shares_one_owner(
    sessions: sessionmaker[Session],
) -> None:
    first, second = _delivery(sessions), _delivery(sessions)
    owners = iter(["group-1", "group-2"])
    attempts = delivering.Attempts(sessions.kw["bind"], 30, lambda: next(owners))

    claims = attempts._claim_group([first, second, first, "del_missing"])

    assert [c.delivery_id if c else None for c in claims] == [first, second, None, None]
    assert {c.owner for c in claims if c} == {"group-1"}
    assert attempts._claim_group([first]) == [None]  # leased: the next group gets nothing


def test_recording_a_group_fences_each_outcome_on_its_own(
    sessions: sessionmaker[Session],
) -> None:
    held, stale, gone = _delivery(sessions), _delivery(sessions), _delivery(sessions)
    start = utcnow()
    with sessions.begin() as session:
        claims = delivering.claim_many(session, [held, stale, gone], "old", 5, start)
    with sessions.begin() as session:  # the stale claim's lease ran out and was taken over
        newer = delivering.claim(session, stale, "new", 5, start + timedelta(seconds=6))
    assert newer is not None
    with sessions.begin() as session:
        endpoint_of_gone = session.get(Delivery, gone)
        assert endpoint_of_gone is not None
        session.delete(endpoint_of_gone)

    now = start + timedelta(seconds=7)
    outcomes = [
        delivering.Outcome(claims[d], AttemptResult(status_code=200), Decision("delivered"), now)
        for d in (held, stale, gone)
    ]
    with sessions.begin() as session:
        assert delivering.record_many(session, outcomes) == [True, False, False]

    with sessions() as session:
        assert session.get(Delivery, held).status == "delivered"  # type: ignore[union-attr]
        still = session.get(Delivery, stale)
        assert still is not None and still.status == "delivering" and still.lease_owner == "new"
    assert _attempts(sessions, held) == [1]
    assert _attempts(sessions, stale) == [1]  # the stale attempt happened, so it is kept
