"""index each endpoint's waiting deliveries that are not parked, for the claim's burst parking

Revision ID: 0009_unparked_index
Revises: 0008_traceparent
Create Date: 2026-11-28
"""

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "0009_unparked_index"
down_revision: str | None = "0008_traceparent"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UNPARKED = sa.text("status IN ('pending', 'scheduled_retry') AND parked_at IS NULL")


def upgrade() -> None:
    op.create_index(
        "ix_deliveries_unparked",
        "deliveries",
        ["endpoint_id", "next_attempt_at"],
        sqlite_where=UNPARKED,
        postgresql_where=UNPARKED,
    )


def downgrade() -> None:
    op.drop_index("ix_deliveries_unparked", table_name="deliveries")
