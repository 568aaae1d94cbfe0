"""What an attempt needs of its endpoint: read with its claim, or with the record that relays
a freed slot to a parked delivery."""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class Destination:
    """An endpoint as one attempt sees it, read in the transaction that leased the attempt."""

    id: str
    workspace_id: str
    url: str
    type: str
    config: dict[str, Any] | None
    secret: str
    previous_secret: str | None
    previous_secret_expires_at: datetime | None
    auth_username: str | None
    auth_password: str | None
    is_active: bool

    @classmethod
    def of(cls, row: Any) -> Destination:
        """From any endpoint row that has these columns (and maybe more)."""
        return cls(*(getattr(row, name) for name in DESTINATION_FIELDS))


DESTINATION_FIELDS = tuple(f.name for f in fields(Destination))
