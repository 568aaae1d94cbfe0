"""What each route accepts and returns, attached to the view, for the OpenAPI document.

The models named here are the ones the view validates with, so the document cannot drift
from the validation; routes are taken from Flask's URL map, so none is listed twice.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from pydantic import BaseModel

F = TypeVar("F", bound=Callable[..., object])


@dataclass(frozen=True)
class Operation:
    summary: str
    body: type[BaseModel] | None = None
    query: type[BaseModel] | None = None
    path: type[BaseModel] | None = None  # constraints on path parameters, when there are any
    response: type[BaseModel] | None = None
    many: bool = False  # the response is a bare JSON array of `response`
    status: int = 200
    body_optional: bool = False
    also: tuple[int, ...] = ()  # more statuses with the same body (207 for a partial batch)


def documented(summary: str, **details: object) -> Callable[[F], F]:
    """Attach an `Operation` to a view function (apply below the route decorator)."""
    operation = Operation(summary, **details)  # type: ignore[arg-type]

    def mark(view: F) -> F:
        view.__openapi__ = operation  # type: ignore[attr-defined]
        return view

    return mark
