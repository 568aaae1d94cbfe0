"""The group-commit helper: concurrent submitters share one run, and share its failure."""

from __future__ import annotations

import threading

import pytest

from app.batching import Batcher


def test_items_waiting_while_a_group_runs_form_the_next_group() -> None:
    gate = threading.Event()
    groups: list[list[int]] = []

    def run(items: list[int]) -> list[int]:
        groups.append(items)
        gate.wait(5)  # hold the first group so the others queue up behind it
        return [item * 10 for item in items]

    batcher: Batcher[int, int] = Batcher(run, max_size=50, name="test")
    results: dict[int, int] = {}
    first = threading.Thread(target=lambda: results.__setitem__(0, batcher.submit(0)))
    first.start()
    while not groups:
        threading.Event().wait(0.01)
    rest = [
        threading.Thread(target=lambda n=n: results.__setitem__(n, batcher.submit(n)))
        for n in range(1, 9)
    ]
    for thread in rest:
        thread.start()
    while batcher._queue.qsize() < 8:
        threading.Event().wait(0.01)
    gate.set()
    for thread in [first, *rest]:
        thread.join(5)

    assert results == {n: n * 10 for n in range(9)}
    assert groups[0] == [0]
    assert sorted(groups[1]) == list(range(1, 9))  # one run for the eight that waited


def test_groups_are_capped_at_max_size() -> None:
    gate = threading.Event()
    sizes: list[int] = []

    def run(items: list[int]) -> list[int]:
        sizes.append(len(items))
        gate.wait(5)
        return items

    batcher: Batcher[int, int] = Batcher(run, max_size=3, name="test")
    threads = [threading.Thread(target=batcher.submit, args=(n,)) for n in range(7)]
    for thread in threads:
        thread.start()
    while batcher._queue.qsize() + sum(sizes) < 7:
        threading.Event().wait(0.01)
    gate.set()
    for thread in threads:
        thread.join(5)
    assert sum(sizes) == 7 and max(sizes) <= 3


def test_a_failed_group_raises_in_every_waiter_and_the_next_group_runs() -> None:
    calls = 0

    def run(items: list[str]) -> list[str]:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise RuntimeError("database down")
        return items

    batcher: Batcher[str, str] = Batcher(run, max_size=10, name="test")
    with pytest.raises(RuntimeError, match="database down"):
        batcher.submit("a")
    assert batcher.submit("b") == "b"
