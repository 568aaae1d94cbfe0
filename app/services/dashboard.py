"""What the operator dashboard shows: endpoint health, delivery search, deliveries per minute."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import case, func, or_, select
from sqlalchemy.orm import Session

from app.models import Attempt, Delivery, Endpoint, ManagementToken
from app.services.endpoints import list_endpoints

PAGE = 100
CHART_ROW_CAP = 100_000  # a dashboard chart, not an export: bounded whatever the traffic


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


def live_token(session: Session, token_id: str) -> ManagementToken | None:
    """The management token a dashboard session was opened with, unless revoked since."""
    token = session.get(ManagementToken, token_id)
    return token if token is not None and token.revoked_at is None else None


def endpoint_health(session: Session, workspace_id: str, since: datetime) -> list[EndpointHealth]:
    """Each endpoint with its attempts since `since` and the status of its newest delivery."""
    counts = {
        row.endpoint_id: (row.total, row.ok or 0)
        for row in session.execute(
            select(
                Delivery.endpoint_id,
                func.count(Attempt.id).label("total"),
                func.sum(case((Attempt.status == "succeeded", 1), else_=0)).label("ok"),
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


def search_deliveries(
    session: Session, workspace_id: str, *, status: str | None, query: str | None
) -> list[Delivery]:
    """Newest first; `query` matches a delivery id or an idempotency key exactly."""
    stmt = select(Delivery).where(Delivery.workspace_id == workspace_id)
    if status:
        stmt = stmt.where(Delivery.status == status)
    if query and "\x00" in query:
        return []  # no id or key holds a NUL, and PostgreSQL would refuse to compare one
    if query:
        stmt = stmt.where(or_(Delivery.id == query, Delivery.idempotency_key == query))
    return list(session.scalars(stmt.order_by(Delivery.id.desc()).limit(PAGE)))


def attempts_per_minute(
    session: Session, workspace_id: str, since: datetime, now: datetime
) -> list[tuple[datetime, int, int]]:
    """(minute, succeeded, failed) for every minute from `since` to `now`, oldest first."""
    rows = session.execute(
        select(Attempt.created_at, Attempt.status)
        .join(Delivery, Delivery.id == Attempt.delivery_id)
        .where(Delivery.workspace_id == workspace_id, Attempt.created_at >= since)
        .limit(CHART_ROW_CAP)
    )
    tally: Counter[tuple[datetime, bool]] = Counter(
        (at.replace(second=0, microsecond=0), status == "succeeded") for at, status in rows
    )
    start = since.replace(second=0, microsecond=0)
    minutes = int((now - start).total_seconds() // 60) + 1
    buckets = [start + timedelta(minutes=n) for n in range(minutes)]
    return [(m, tally[(m, True)], tally[(m, False)]) for m in buckets]
