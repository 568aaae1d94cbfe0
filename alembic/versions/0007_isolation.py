"""endpoint isolation: concurrency cap, rate limit, circuit breaker, pauses, parked deliveries

Revision ID: 0007_isolation
Revises: 0006_delivery_event_type
Create Date: 2026-11-27
"""

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op
from app.db import UTCDateTime

revision: str = "0007_isolation"
down_revision: str | None = "0006_delivery_event_type"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

DELIVERING = sa.text("status = 'delivering'")
PARKED = sa.text("parked_at IS NOT NULL")


def upgrade() -> None:
    with op.batch_alter_table("endpoints") as batch_op:
        batch_op.add_column(sa.Column("max_in_flight", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("rate_limit", sa.Float(), nullable=True))
        batch_op.add_column(sa.Column("rate_next_at", UTCDateTime(), nullable=True))
        batch_op.add_column(
            sa.Column(
                "circuit_state", sa.String(length=16), nullable=False, server_default="closed"
            )
        )
        batch_op.add_column(
            sa.Column("consecutive_failures", sa.Integer(), nullable=False, server_default="0")
        )
        batch_op.add_column(
            sa.Column("circuit_trips", sa.Integer(), nullable=False, server_default="0")
        )
        batch_op.add_column(sa.Column("circuit_open_until", UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column("paused_until", UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column("failing_since", UTCDateTime(), nullable=True))
    with op.batch_alter_table("deliveries") as batch_op:
        batch_op.add_column(sa.Column("parked_at", UTCDateTime(), nullable=True))
        batch_op.add_column(
            sa.Column("operator_retry", sa.Boolean(), nullable=False, server_default=sa.false())
        )
    op.create_index(
        "ix_deliveries_in_flight",
        "deliveries",
        ["endpoint_id"],
        sqlite_where=DELIVERING,
        postgresql_where=DELIVERING,
    )
    op.create_index(
        "ix_deliveries_parked",
        "deliveries",
        ["endpoint_id", "parked_at"],
        sqlite_where=PARKED,
        postgresql_where=PARKED,
    )


def downgrade() -> None:
    op.drop_index("ix_deliveries_parked", table_name="deliveries")
    op.drop_index("ix_deliveries_in_flight", table_name="deliveries")
    with op.batch_alter_table("deliveries") as batch_op:
        batch_op.drop_column("operator_retry")
        batch_op.drop_column("parked_at")
    with op.batch_alter_table("endpoints") as batch_op:
        for column in (
            "failing_since",
            "paused_until",
            "circuit_open_until",
            "circuit_trips",
            "consecutive_failures",
            "circuit_state",
            "rate_next_at",
            "rate_limit",
            "max_in_flight",
        ):
            batch_op.drop_column(column)
