"""What the operator dashboard shows: endpoint health, delivery search, deliveries per minute."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import case, func, or_, select
from sqlalchemy.orm import Session

from app.domain import AttemptStatus
from app.models import Attempt, Delivery, Endpoint
from app.services import redelivery
from app.services.endpoints import list_endpoints
from app.services.errors import ServiceError

PAGE = 100
CHART_ROW_CAP = 100_000
EPOCH = datetime(
    1970, 1, 1, tzinfo=UTC
)  # a dashboard chart, not an export: bounded whatever the traffic


@dataclass(frozen=True)
class EndpointHealth:
    endpoint: Endpoint
    attempts: int
    succeeded: int
    last_status: str | None

    @property
    def success_rate(self) -> float | None:
        """Share of successful attempts in the window; None when there was none."""
        return self.succeeded / self.attempts if self.attempts else None


def endpoint_health(session: Session, workspace_id: str, since: datetime) -> list[EndpointHealth]:
    """Each endpoint with its attempts since `since` and the status of its newest delivery."""
    counts = {
        row.endpoint_id: (row.total, row.ok or 0)
        for row in session.execute(
            select(
                Delivery.endpoint_id,
                func.count(Attempt.id).label("total"),
                func.sum(case((Attempt.status == AttemptStatus.SUCCEEDED, 1), else_=0)).label("ok"),
            )
            .join(Attempt, Attempt.delivery_id == Delivery.id)
            .where(Delivery.workspace_id == workspace_id, Attempt.created_at >= since)
            .group_by(Delivery.endpoint_id)
        )
    }
    newest = (
        select(func.max(Delivery.id))
        .where(Delivery.workspace_id == workspace_id)
        .group_by(Delivery.endpoint_id)
    )
    newest_rows = session.execute(
        select(Delivery.endpoint_id, Delivery.status).where(Delivery.id.in_(newest))
    )
    last = {row.endpoint_id: row.status for row in newest_rows}
    return [
        EndpointHealth(e, *counts.get(e.id, (0, 0)), last.get(e.id))
        for e in list_endpoints(session, workspace_id)
    ]


@dataclass(frozen=True)
class DeliveryFilter:
    """What the deliveries page searches by; every field is optional."""

    status: str | None = None
    query: str | None = None  # a delivery id or an idempotency key, exactly
    endpoint_id: str | None = None
    since: datetime | None = None
    until: datetime | None = None


def search_deliveries(session: Session, workspace_id: str, found: DeliveryFilter) -> list[Delivery]:
    """The newest `PAGE` deliveries matching every field given."""
    stmt = select(Delivery).where(Delivery.workspace_id == workspace_id)
    if found.status:
        stmt = stmt.where(Delivery.status == found.status)
    if found.query and "\x00" in found.query:
        return []  # no id or key holds a NUL, and PostgreSQL would refuse to compare one
    if found.query:
        stmt = stmt.where(or_(Delivery.id == found.query, Delivery.idempotency_key == found.query))
    if found.endpoint_id:
        stmt = stmt.where(Delivery.endpoint_id == found.endpoint_id)
    if found.since:
        stmt = stmt.where(Delivery.created_at >= found.since)
    if found.until:
        stmt = stmt.where(Delivery.created_at < found.until)
    return list(session.scalars(stmt.order_by(Delivery.id.desc()).limit(PAGE)))


def attempts_over_time(
    session: Session, workspace_id: str, since: datetime, now: datetime, step: timedelta
) -> list[tuple[datetime, int, int]]:
    """(bucket start, succeeded, failed) for every `step` from `since` to `now`, oldest first."""
    rows = session.execute(
        select(Attempt.created_at, Attempt.status)
        .join(Delivery, Delivery.id == Attempt.delivery_id)
        .where(Delivery.workspace_id == workspace_id, Attempt.created_at >= since)
        .limit(CHART_ROW_CAP)
    )
    # Buckets start on multiples of `step` (quarter hours, even hours), so bars line up
    # with round times whenever the page is loaded.
    start = EPOCH + (since - EPOCH) // step * step
    tally: Counter[tuple[int, bool]] = Counter(
        ((at - start) // step, status == AttemptStatus.SUCCEEDED) for at, status in rows
    )
    buckets = int((now - start) // step) + 1
    return [(start + n * step, tally[(n, True)], tally[(n, False)]) for n in range(buckets)]


def retry_filtered(
    session: Session, workspace_id: str, found: DeliveryFilter, now: datetime
) -> tuple[list[str], int]:
    """Retry each delivery the filter finds, one by one; return the retried and the refused."""
    retried, refused = [], 0
    for delivery in search_deliveries(session, workspace_id, found):
        try:
            with session.begin_nested():  # a refusal undoes only its own delivery
                redelivery.retry_delivery(session, workspace_id, delivery.id, now)
        except ServiceError:
            refused += 1
        else:
            retried.append(delivery.id)
    return retried, refused
