"""What the scheduler hands to the queue: due retries, lost publishes, dead workers' leases."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from app.db import status_in
from app.domain import WAITING_STATUSES, DeliveryStatus
from app.models import Delivery

deliveries = Delivery.__table__


def take_due(session: Session, now: datetime, requeue_after: float, limit: int = 500) -> list[str]:
    """The ids `take_due_lanes` takes, in one list."""
    lanes = take_due_lanes(session, now, requeue_after, limit)
    return lanes.first + lanes.retries


@dataclass
class Lanes:
    """What a pass takes, split by lane: never attempted, and attempted before."""

    first: list[str] = field(default_factory=list)
    retries: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.first) + len(self.retries)


def take_due_lanes(
    session: Session, now: datetime, requeue_after: float, limit: int = 500
) -> Lanes:
    """Select deliveries to (re)enqueue and stamp them, so one is not published every pass.

    Due: waiting with `next_attempt_at` passed and not published within `requeue_after`
    (covers a publish lost after commit and a message lost with its broker). A parked
    delivery is never taken here: it is woken at its endpoint's pace, by a finished attempt
    or by `wake_stranded`, which the scheduler runs every pass. Orphaned: in flight with an
    expired lease (its worker died). `SKIP LOCKED` lets several schedulers
    run at once without taking the same rows; the work scales with what is due, thanks to
    the partial indexes on `next_attempt_at` and `lease_expires_at`.
    """
    stale = now - timedelta(seconds=requeue_after)
    not_recent = or_(deliveries.c.enqueued_at.is_(None), deliveries.c.enqueued_at < stale)
    due = and_(
        status_in(deliveries.c.status, WAITING_STATUSES),
        deliveries.c.next_attempt_at <= now,
        not_recent,
        deliveries.c.parked_at.is_(None),
    )
    orphaned = and_(
        status_in(deliveries.c.status, [DeliveryStatus.DELIVERING]),
        deliveries.c.lease_expires_at < now,
        not_recent,
    )
    lanes = Lanes()
    for condition, order in (
        (due, deliveries.c.next_attempt_at),
        (orphaned, deliveries.c.lease_expires_at),
    ):
        stmt = (
            select(deliveries.c.id, deliveries.c.attempts)
            .where(condition)
            .order_by(order)
            .limit(limit - len(lanes))
        )
        if session.get_bind().dialect.name == "postgresql":
            stmt = stmt.with_for_update(skip_locked=True)
        for row in session.execute(stmt):
            (lanes.retries if row.attempts else lanes.first).append(row.id)
        if len(lanes) >= limit:
            break
    ids = lanes.first + lanes.retries
    if ids:
        session.execute(deliveries.update().where(deliveries.c.id.in_(ids)).values(enqueued_at=now))
    return lanes
