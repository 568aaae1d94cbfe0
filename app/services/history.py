"""Reading deliveries for the management API: pages newest first, attempts oldest first."""

from __future__ import annotations

import base64
import binascii

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.models import Attempt, Delivery, Endpoint
from app.services.errors import Invalid
from app.services.lookup import owned

MAX_PAGE = 100
_CURSOR_PREFIX = "before:"


def encode_cursor(delivery_id: str) -> str:
    """Opaque to clients, so the encoding can change without breaking them."""
    return base64.urlsafe_b64encode(f"{_CURSOR_PREFIX}{delivery_id}".encode()).decode()


def decode_cursor(cursor: str) -> str:
    try:
        text = base64.urlsafe_b64decode(cursor.encode()).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError) as exc:
        raise Invalid("'cursor': not a cursor this API returned") from exc
    if not text.startswith(_CURSOR_PREFIX):
        raise Invalid("'cursor': not a cursor this API returned")
    return text[len(_CURSOR_PREFIX) :]


def list_deliveries(
    session: Session,
    workspace_id: str,
    endpoint_id: str,
    *,
    limit: int,
    cursor: str | None,
    status: str | None,
) -> tuple[list[Delivery], str | None]:
    """One page, newest first; ids are time-ordered, so keyset paging on the id index is stable."""
    owned(session, Endpoint, workspace_id, endpoint_id, "Endpoint")
    limit = min(limit, MAX_PAGE)
    stmt = select(Delivery).where(
        Delivery.endpoint_id == endpoint_id, Delivery.workspace_id == workspace_id
    )
    if cursor is not None:
        stmt = stmt.where(Delivery.id < decode_cursor(cursor))
    if status is not None:
        stmt = stmt.where(Delivery.status == status)
    rows = list(session.scalars(stmt.order_by(Delivery.id.desc()).limit(limit + 1)))
    if len(rows) > limit:
        return rows[:limit], encode_cursor(rows[limit - 1].id)
    return rows, None


def get_delivery(session: Session, workspace_id: str, delivery_id: str) -> Delivery:
    return owned(session, Delivery, workspace_id, delivery_id, "Delivery")


def list_attempts(session: Session, workspace_id: str, delivery_id: str) -> list[Attempt]:
    get_delivery(session, workspace_id, delivery_id)
    return list(
        session.scalars(
            select(Attempt)
            .where(Attempt.delivery_id == delivery_id)
            .order_by(Attempt.attempt_number)
        )
    )
