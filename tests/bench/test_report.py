"""The benchmark's report: how a target's CPU budget is set against the frameworks' floor,
where the single sends' CPU went, how turns add up, and what the batch target reads."""

from __future__ import annotations

import pytest

from bench.phases import _pooled
from bench.report import (
    LOST,
    Results,
    batch_ceiling,
    single_send_cpu,
    single_send_floor,
    targets,
)


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


def test_turns_of_batches_pool_under_their_own_names() -> None:
    turns = [
        {"e2e_per_s": 200.0, "e2e_cpu_ms": 3.0, "e2e_lost": 0.0, "e2e_duplicates": 2.0},
        {"e2e_per_s": 600.0, "e2e_cpu_ms": 1.0, "e2e_lost": 0.0, "e2e_duplicates": 1.0},
    ]

    pooled = _pooled(turns, "e2e")

    assert pooled["turns_e2e_per_s"] == pytest.approx(300.0)
    assert pooled["turns_e2e_cpu_ms"] == pytest.approx(2.0)
    assert pooled["turns_e2e_duplicates"] == 3.0


def _batch_results(naive: list[float], hookrelay: list[float], frameworks: list[float]) -> Results:
    """Runs whose batches in turns went at these rates, with every other target's figure."""
    other = {"e2e_per_s": 1.0, "turns_e2e_single_per_s": 1.0, "batch_items_s": 1.0}
    other |= {"single_rps": 1.0, "turns_single_cpu_ms": 1.0, "turns_single_rps_core": 1.0}
    other |= {"latency_p50_ms": 1.0, "latency_p99_ms": 1.0}
    other |= dict.fromkeys(LOST, 0.0)
    growth = {"batch_items_s": 1.0, "single_rps": 1.0, "single_p50_ms": 1.0, "get_rps": 1.0}
    growth |= {"list_ms": 1.0, "pass_ms": 1.0, "worker_rss_mb": 1.0}

    def runs(rates: list[float]) -> list[dict[str, float]]:
        return [other | {"turns_e2e_per_s": rate} for rate in rates]

    return Results(
        sizes={"runs": len(naive)},
        systems=["naive", "hookrelay"],
        runs={"naive": runs(naive), "hookrelay": runs(hookrelay), "frameworks": runs(frameworks)},
        growth={"empty": [growth], "full": [growth], "memory": [growth]},
    )


def test_the_batch_note_sets_hookrelay_against_the_frameworks_in_the_same_turns() -> None:
    # Per run: the frameworks 5x and 4x naive, hookrelay 0.8x and 0.75x of the frameworks.
    results = _batch_results([100.0, 200.0], [400.0, 600.0], [500.0, 800.0])

    [note] = batch_ceiling(results)

    assert "the frameworks alone storing the least went 4.50x naive" in note
    assert "hookrelay went 0.78x as fast as they did" in note


def test_the_batch_target_reads_the_batches_in_turns() -> None:
    # Measured apart hookrelay went as fast as naive (1.0/s each); in turns 5x.
    met = targets(_batch_results([100.0], [500.0], [600.0]))
    missed = targets(_batch_results([100.0], [499.0], [600.0]))

    assert "- met    end to end >= 5x naive (redis)" in met
    assert "- MISSED end to end >= 5x naive (redis)" in missed
