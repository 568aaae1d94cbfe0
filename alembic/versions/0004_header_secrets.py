"""encrypt custom header values; move credentials out of endpoint URLs

Revision ID: 0004_header_secrets
Revises: 0003
Create Date: 2026-11-27

Header values in `config` are encrypted in place (the column stays JSON). A URL's
`user:password@` becomes the endpoint's basic auth (the password encrypted), as requests
already sent it, unless the endpoint has its own basic auth, which requests preferred; the URL
keeps everything but the credentials. A URL with a backslash in its authority is left alone:
clients disagree on where its host is, and the sender refuses it.
"""

from collections.abc import Sequence
from urllib.parse import unquote, urlsplit, urlunsplit

import sqlalchemy as sa

from alembic import op
from app import crypto

revision: str = "0004_header_secrets"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

endpoints = sa.table(
    "endpoints",
    sa.column("id", sa.String),
    sa.column("url", sa.Text),
    sa.column("config", sa.JSON),
    sa.column("auth_username", sa.String),
    sa.column("auth_password", sa.Text),
)


def _without_credentials(row: sa.RowMapping) -> dict[str, str | None]:
    parts = urlsplit(row["url"])
    if "@" not in parts.netloc or "\\" in row["url"]:
        return {}
    values: dict[str, str | None] = {
        "url": urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))
    }
    # requests used the URL's credentials only with a password, and only without explicit auth.
    if row["auth_username"] is None and parts.password is not None:
        values["auth_username"] = unquote(parts.username or "")
        values["auth_password"] = crypto.encrypt(unquote(parts.password))
    return values


def _encrypted_headers(value: str) -> str:
    return value if value.startswith(crypto.PREFIX) else crypto.encrypt(value)


def upgrade() -> None:
    connection = op.get_bind()
    for row in connection.execute(sa.select(endpoints)).mappings().all():
        values = _without_credentials(row)
        config = crypto.map_header_values(row["config"], _encrypted_headers)
        if config != row["config"]:
            values["config"] = config
        if values:
            connection.execute(endpoints.update().where(endpoints.c.id == row["id"]).values(values))


def downgrade() -> None:
    # Credentials stay in authUsername/authPassword, which every version reads.
    connection = op.get_bind()
    for row in connection.execute(sa.select(endpoints.c.id, endpoints.c.config)).mappings().all():
        config = crypto.map_header_values(
            row["config"], lambda v: crypto.decrypt(v) if v.startswith(crypto.PREFIX) else v
        )
        if config != row["config"]:
            connection.execute(
                endpoints.update().where(endpoints.c.id == row["id"]).values(config=config)
            )
