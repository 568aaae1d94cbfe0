"""Group commit: many threads each hand over one item and wait; one thread runs them together.

A worker runs many delivery attempts at once, each in its own thread, and each needs the same
two short transactions (claim, record). Doing them one by one costs a round trip and a
commit per attempt; grouping whatever is waiting into one statement costs one per group.
There is no timer: a group is whatever queued up while the previous one ran, so an idle
worker adds no delay and a busy one gets large groups.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from typing import Generic, TypeVar

Item = TypeVar("Item")
Result = TypeVar("Result")


class Batcher(Generic[Item, Result]):
    """Runs `run(items) -> results` (same order) over items submitted from many threads."""

    def __init__(
        self, run: Callable[[list[Item]], Sequence[Result]], max_size: int, name: str
    ) -> None:
        self._run = run
        self._max_size = max_size
        self._queue: queue.SimpleQueue[tuple[Item, Future[Result]]] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._loop, name=name, daemon=True)
        self._thread.start()

    def submit(self, item: Item) -> Result:
        """Wait for the group holding `item` to run; raise what the group raised."""
        future: Future[Result] = Future()
        self._queue.put((item, future))
        return future.result()

    def _loop(self) -> None:
        while True:
            group = [self._queue.get()]
            while len(group) < self._max_size:
                try:
                    group.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            try:
                results = self._run([item for item, _ in group])
            except BaseException as exc:  # every waiter sees the failure, the loop goes on
                for _, future in group:
                    future.set_exception(exc)
                continue
            for (_, future), result in zip(group, results, strict=True):
                future.set_result(result)
