"""Key rotation for secrets encrypted at rest: re-encrypt every stored value under the first key."""

from __future__ import annotations

from sqlalchemy import JSON, Text, column, select, table
from sqlalchemy.orm import Session

from app import crypto

ENCRYPTED_COLUMNS = {"endpoints": ("secret", "previous_secret", "auth_password")}


def reencrypt_all(session: Session) -> int:
    """Rewrite each encrypted value under the current key; return how many values changed."""
    changed = 0
    for name, columns in ENCRYPTED_COLUMNS.items():
        # A plain table view reads the stored ciphertext, bypassing the decrypting column type.
        raw = table(name, column("id", Text), *(column(c, Text) for c in columns))
        for row in session.execute(select(raw)).mappings():
            values = {c: crypto.reencrypt(row[c]) for c in columns if row[c] is not None}
            if values:
                session.execute(raw.update().where(raw.c.id == row["id"]).values(values))
                changed += len(values)
    return changed + _reencrypt_header_values(session)


def _reencrypt_header_values(session: Session) -> int:
    raw = table("endpoints", column("id", Text), column("config", JSON))
    changed = 0
    for row in session.execute(select(raw)).mappings():
        config = crypto.map_header_values(row["config"], crypto.reencrypt)
        if config != row["config"]:
            session.execute(raw.update().where(raw.c.id == row["id"]).values(config=config))
            changed += len(config["headers"])
    return changed
