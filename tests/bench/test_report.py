"""The benchmark's report: how a target's CPU budget is set against the frameworks' floor,
where the single sends' CPU went, and how turns of single sends add up."""

from __future__ import annotations

import pytest

from bench.phases import _pooled
from bench.report import Results, single_send_cpu, single_send_floor


def _results(naive_single_per_s: float) -> Results:
    return Results(
        sizes={"runs": 1},
        systems=["naive", "hookrelay"],
        runs={"naive": [{"turns_e2e_single_per_s": naive_single_per_s}]},
        ceilings={"hookrelay": {"noop_cpu_ms": 0.8}},
        floors={
            "floor_web_ms": 0.9,
            "floor_load_ms": 0.3,
            "floor_post_ms": 0.7,
            "floor_receiver_ms": 0.1,
        },
    )


def test_the_floor_note_sets_the_frameworks_against_the_budget_of_2x_naive() -> None:
    # 2x of 250/s is 500/s: on 2 cores, 4 ms of CPU per delivery; the parts add to 2.8 ms.
    [note] = single_send_floor(_results(250.0), cores=2)

    assert "2x naive with single sends is 500/s: 4.00 ms of CPU per delivery on 2 cores" in note
    assert "the frameworks alone take 2.80 ms of it" in note
    assert "web 0.90, load 0.30, Celery 0.80, POST 0.70, receiver 0.10" in note


def test_no_floor_note_without_the_celery_figure() -> None:
    results = _results(250.0)
    results.ceilings = {}

    assert single_send_floor(results, cores=2) == []


def test_the_cpu_note_splits_a_single_send_and_halves_naives_cost_for_the_2x_target() -> None:
    hookrelay = {"turns_e2e_single_cpu_ms": 6.0, "turns_e2e_single_web_ms": 2.0}
    hookrelay |= {"turns_e2e_single_workers_ms": 3.0, "turns_e2e_single_pg_ms": 1.0}
    results = Results(
        sizes={"runs": 1},
        systems=["naive", "hookrelay"],
        runs={"naive": [{"turns_e2e_single_cpu_ms": 11.0}], "hookrelay": [hookrelay]},
    )

    [note] = single_send_cpu(results)

    assert "hookrelay 6.00 ms (web 2.00, workers 3.00, PostgreSQL 1.00), naive 11.00 ms" in note
    assert "needs 5.50 ms" in note


def _turn(per_s: float, cpu_ms: float, lost: float = 0.0) -> dict[str, float]:
    return {
        "e2e_single_per_s": per_s,
        "e2e_single_cpu_ms": cpu_ms,
        "e2e_single_lost": lost,
        "e2e_single_duplicates": 0.0,
    }


def test_turns_of_single_sends_pool_into_one_rate_and_one_cpu_per_delivery() -> None:
    # Two turns of equal size at 200/s and 600/s took 1/200 + 1/600 s per delivery each:
    # 2 deliveries in 1/150 s is 300/s, not the 400/s of the mean rate.
    pooled = _pooled([_turn(200.0, 4.0, lost=1.0), _turn(600.0, 2.0)])

    assert pooled["turns_e2e_single_per_s"] == pytest.approx(300.0)
    assert pooled["turns_e2e_single_cpu_ms"] == pytest.approx(3.0)
    assert pooled["turns_e2e_single_lost"] == 1.0
