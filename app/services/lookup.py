"""Finding a workspace's own rows: anything of another workspace is simply not found."""

from __future__ import annotations

from typing import Any, TypeVar

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.services.errors import NotFound

T = TypeVar("T")


def owned(session: Session, model: type[T], workspace_id: str, row_id: str, what: str) -> T:
    """Return the row `row_id` of `model` in `workspace_id`, or raise NotFound naming `what`."""
    table: Any = model
    found = session.scalar(
        select(model).where(table.id == row_id, table.workspace_id == workspace_id)
    )
    if found is None:
        raise NotFound(what)
    return found


def lock_owned(session: Session, model: type[T], workspace_id: str, row_id: str, what: str) -> T:
    """Like `owned`, but hold the row lock until commit (SQLite already serializes writers)."""
    table: Any = model
    found = session.scalar(
        select(model)
        .where(table.id == row_id, table.workspace_id == workspace_id)
        .with_for_update()
    )
    if found is None:
        raise NotFound(what)
    return found
