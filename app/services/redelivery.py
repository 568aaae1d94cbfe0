"""Operator actions: send one delivery now, or re-drive an endpoint's failures since a time.

Both only make deliveries `scheduled_retry`, due now; sending still goes through the
worker's lease claim, so a re-driven delivery can never be sent by two workers at once.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy.orm import Session

from app.domain import RETRYABLE_STATUSES, DeliveryStatus
from app.models import Delivery, Endpoint
from app.services.errors import Conflict
from app.services.lookup import owned

deliveries = Delivery.__table__


def retry_delivery(
    session: Session, workspace_id: str, delivery_id: str, now: datetime
) -> Delivery:
    """Make a finished or waiting delivery due now; the caller publishes it after the commit.

    The retry schedule is not restarted: a finished delivery gets one more attempt, a waiting
    one its next attempt early, and the schedule goes on from its attempt count.
    It is marked as the operator's: its claim passes an open circuit or a pause (it is the
    probe), though not the endpoint's concurrency cap.
    """
    delivery = owned(session, Delivery, workspace_id, delivery_id, "Delivery")
    updated = session.execute(
        deliveries.update()
        .where(deliveries.c.id == delivery.id, deliveries.c.status.in_(RETRYABLE_STATUSES))
        .values(
            status=DeliveryStatus.SCHEDULED_RETRY,
            next_attempt_at=now,
            enqueued_at=now,
            operator_retry=True,
            updated_at=now,
        )
    )
    if not updated.rowcount:  # type: ignore[attr-defined]
        raise Conflict(f"delivery is {delivery.status}, already on its way")
    session.refresh(delivery)
    return delivery


def redrive_endpoint(
    session: Session,
    workspace_id: str,
    endpoint_id: str,
    *,
    since: datetime,
    statuses: Sequence[str],
    now: datetime,
) -> int:
    """Make the endpoint's failed deliveries created since `since` due now; return how many.

    `enqueued_at` is cleared rather than publishing here: the scheduler enqueues them in
    bounded passes, so re-driving a day of failures never floods the broker in one request.
    """
    owned(session, Endpoint, workspace_id, endpoint_id, "Endpoint")
    updated = session.execute(
        deliveries.update()
        .where(
            deliveries.c.endpoint_id == endpoint_id,
            deliveries.c.status.in_(statuses),
            deliveries.c.created_at >= since,
        )
        .values(
            status=DeliveryStatus.SCHEDULED_RETRY,
            next_attempt_at=now,
            enqueued_at=None,
            updated_at=now,
        )
    )
    return int(updated.rowcount)  # type: ignore[attr-defined]
