"""The items of an ingest batch: each one parsed, stored and answered on its own."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, Generic, Protocol, TypeVar

from pydantic import BaseModel

from app.errors import APIError
from app.schemas import BatchBody, parse
from app.schemas.responses import BatchResult, BatchResultItem

M = TypeVar("M", bound=BaseModel)
T = TypeVar("T", bound="Outcome")


class Outcome(Protocol):
    """What a service says of one item: its place in the batch, and its error if refused."""

    @property
    def index(self) -> int: ...

    @property
    def error(self) -> Exception | None: ...


class BatchItems(Generic[M]):
    """A batch body: the items that parsed as `M`, with their index; the others' errors.

    A bad batch body (not a list of 1 to 20 items) is a 400 for the whole request; a bad
    item is only that item's error, answered with the results of the others (207).
    """

    def __init__(self, model: type[M], data: Any) -> None:
        self.parsed: list[tuple[int, M]] = []
        self._results: dict[int, dict[str, Any]] = {}
        self._failed = False
        for index, item in enumerate(parse(BatchBody, data).items):
            try:
                self.parsed.append((index, parse(model, item)))
            except APIError as exc:
                self._fail(index, exc)

    def answer(
        self, outcomes: Iterable[T], accepted: Callable[[T], dict[str, Any]]
    ) -> tuple[dict[str, Any], int]:
        """Every item's result in the order sent: 202 if all were accepted, else 207.

        `accepted` writes the result of an accepted item, without its index.
        """
        for outcome in outcomes:
            if outcome.error:
                self._fail(outcome.index, outcome.error)
            else:
                self._results[outcome.index] = BatchResultItem.accepted(
                    outcome.index, accepted(outcome)
                )
        items = [self._results[index] for index in sorted(self._results)]
        return BatchResult.of(items), 207 if self._failed else 202

    def _fail(self, index: int, error: Exception) -> None:
        self._results[index] = BatchResultItem.failed(index, error)
        self._failed = True
