"""encrypt endpoint signing secrets and basic-auth passwords at rest

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22
"""

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op
from app import crypto

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COLUMNS = ("secret", "previous_secret", "auth_password")
endpoints = sa.table(
    "endpoints", sa.column("id", sa.String), *(sa.column(c, sa.Text) for c in COLUMNS)
)


def _convert(transform) -> None:  # type: ignore[no-untyped-def]
    connection = op.get_bind()
    rows = connection.execute(sa.select(endpoints)).mappings().all()
    for row in rows:
        values = {c: transform(row[c]) for c in COLUMNS if row[c] is not None}
        if values:
            connection.execute(endpoints.update().where(endpoints.c.id == row["id"]).values(values))


def upgrade() -> None:
    with op.batch_alter_table("endpoints") as batch_op:
        for column in COLUMNS:
            batch_op.alter_column(column, type_=sa.Text(), existing_nullable=column != "secret")
    _convert(lambda value: value if value.startswith(crypto.PREFIX) else crypto.encrypt(value))


def downgrade() -> None:
    _convert(lambda value: crypto.decrypt(value) if value.startswith(crypto.PREFIX) else value)
    with op.batch_alter_table("endpoints") as batch_op:
        batch_op.alter_column("secret", type_=sa.String(100), existing_nullable=False)
        batch_op.alter_column("previous_secret", type_=sa.String(100), existing_nullable=True)
        batch_op.alter_column("auth_password", type_=sa.String(200), existing_nullable=True)
