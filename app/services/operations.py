"""Operator queries: readiness, queue lag, stuck deliveries, and the retention purge."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import Engine, and_, delete, func, or_, select, text
from sqlalchemy.orm import Session, sessionmaker

from app.db import status_in
from app.domain import FINAL_STATUSES, WAITING_STATUSES, DeliveryStatus
from app.models import Delivery, IdempotencyKey

deliveries = Delivery.__table__


def database_ready(engine: Engine) -> None:
    """Raise unless the database answers a trivial query."""
    with engine.connect() as conn:
        conn.execute(text("SELECT 1"))


def oldest_due(session: Session, now: datetime) -> datetime | None:
    """`next_attempt_at` of the oldest due, unclaimed delivery (uses the partial due index)."""
    return session.scalar(
        select(func.min(deliveries.c.next_attempt_at)).where(
            status_in(deliveries.c.status, WAITING_STATUSES), deliveries.c.next_attempt_at <= now
        )
    )


def stuck_deliveries(
    session: Session, now: datetime, older_than: float, limit: int = 100
) -> list[Delivery]:
    """Deliveries due for `older_than` seconds yet unclaimed, or held by an expired lease."""
    cutoff = now - timedelta(seconds=older_than)
    status = deliveries.c.status
    waiting = and_(status_in(status, WAITING_STATUSES), Delivery.next_attempt_at <= cutoff)
    orphaned = and_(
        status_in(status, [DeliveryStatus.DELIVERING]), Delivery.lease_expires_at <= cutoff
    )
    stmt = select(Delivery).where(or_(waiting, orphaned)).order_by(Delivery.next_attempt_at)
    return list(session.scalars(stmt.limit(limit)))


def purge_batch(session: Session, before: datetime, batch: int) -> int:
    """Delete up to `batch` finished deliveries created before `before` (attempts cascade).

    Bounded, so a purge of months of history never holds one huge transaction; deliveries
    still waiting or in flight are kept whatever their age.
    """
    ids = (
        select(deliveries.c.id)
        .where(deliveries.c.created_at < before, deliveries.c.status.in_(FINAL_STATUSES))
        .limit(batch)
        .scalar_subquery()
    )
    removed = session.execute(delete(deliveries).where(deliveries.c.id.in_(ids)))
    session.execute(delete(IdempotencyKey).where(IdempotencyKey.expires_at < before))
    return int(removed.rowcount)  # type: ignore[attr-defined]


def purge(
    sessions: sessionmaker[Session], before: datetime, batch: int = 1000, max_batches: int = 100
) -> int:
    """Run purge batches, each in its own transaction, until done or `max_batches`."""
    total = 0
    for _ in range(max_batches):
        with sessions.begin() as session:
            removed = purge_batch(session, before, batch)
        total += removed
        if removed < batch:
            break
    return total
