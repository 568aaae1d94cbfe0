"""The benchmark in smoke mode, so `python -m bench` never rots.

A few hundred deliveries through the naive baseline and hookrelay on PostgreSQL + Redis, a
few dozen single sends to both webs in turns and then end to end in turns, a few hundred in
batches end to end in turns to both and to the frameworks alone (bench/frameworks), the isolation
turns with a few hundred deliveries queued to each misbehaving endpoint, a few hundred no-op
tasks through Celery alone and a few hundred single sends through the frameworks alone:
nothing accepted may be lost, and the printed table has every row.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from app.config import Settings
from bench.report import BATCH_TURNS, CEILINGS, FLOORS, GROWTH, ISOLATION, MAIN, MEMORY
from bench.run import main
from bench.systems import HOOKRELAY
from tests.support.services import need

pytestmark = pytest.mark.integration


def test_smoke_run_loses_nothing_and_prints_every_row(capsys: pytest.CaptureFixture[str]) -> None:
    need("postgresql", "redis")

    results = main(["--smoke"])

    for system in ("naive", "hookrelay"):
        [run] = results.runs[system]
        assert run["e2e_lost"] == 0 and run["e2e_single_lost"] == 0, system
        assert run["latency_lost"] == 0, system
        assert run["e2e_per_s"] > 0 and run["batch_items_s"] > 0 and run["single_rps"] > 0
        assert run["e2e_single_per_s"] > 0, system
        # Web CPU per accepted request and item, from the web processes' own counters.
        assert run["single_cpu_ms"] > 0 and run["batch_cpu_ms"] > 0, system
        assert run["single_rps_core"] == pytest.approx(1000 / run["single_cpu_ms"]), system
        # The same, with both webs up and sent to in turns: what the targets read.
        assert run["turns_single_cpu_ms"] > 0, system
        assert run["turns_single_rps_core"] == pytest.approx(1000 / run["turns_single_cpu_ms"])
        # End to end, the CPU of the web, the workers and PostgreSQL per delivery.
        parts = [run[f"e2e_single_{part}_ms"] for part in ("web", "workers", "pg")]
        assert all(cpu > 0 for cpu in parts) and run["e2e_cpu_ms"] > 0, system
        assert run["e2e_single_cpu_ms"] == pytest.approx(sum(parts)), system
        # The same end to end with every system up and sent to in turns: what the target reads.
        assert run["turns_e2e_single_per_s"] > 0 and run["turns_e2e_single_lost"] == 0, system
        parts = [run[f"turns_e2e_single_{part}_ms"] for part in ("web", "workers", "pg")]
        assert run["turns_e2e_single_cpu_ms"] == pytest.approx(sum(parts)), system
    # 20-item batches end to end in turns, to both and to the frameworks alone, which store
    # a row per delivery (PostgreSQL's CPU) and sign like hookrelay.
    for system in ("naive", "hookrelay", "frameworks"):
        [run] = results.runs[system]
        assert run["turns_e2e_per_s"] > 0 and run["turns_e2e_lost"] == 0, system
        parts = [run[f"turns_e2e_{part}_ms"] for part in ("web", "workers", "pg")]
        assert all(cpu > 0 for cpu in parts), system
        assert run["turns_e2e_signed_share"] == (0.0 if system == "naive" else 1.0), system
    # Each column measured the system it names: the naive app does not sign, hookrelay always does.
    for share in ("e2e_signed_share", "e2e_single_signed_share"):
        assert results.runs["naive"][0][share] == 0.0
        assert results.runs["hookrelay"][0][share] == 1.0
    for phase in ("empty", "full"):
        assert results.growth[phase] and all(r["pass_ms"] > 0 for r in results.growth[phase])
    assert results.growth["memory"][0]["worker_rss_mb"] > 0
    # Celery alone: every no-op task published was consumed, at some measured rate.
    noop = results.ceilings["hookrelay"]
    assert noop["noop_missing"] == 0 and noop["noop_consume_s"] > 0 and noop["noop_publish_s"] > 0
    assert noop["noop_cpu_ms"] > 0
    # The frameworks alone, per single send: every part measured by its own CPU counters.
    assert all(results.floors[key] > 0 for key, _ in FLOORS)
    # Isolation: every turn ran, the misbehaving endpoints were really sent to, and every
    # healthy delivery arrived.
    turns = results.isolation["hookrelay"]
    assert list(turns) == ["quiet", "hang", "fail", "busy"]
    assert all(turns[turn]["bad_requests"] > 0 for turn in ("hang", "fail", "busy"))
    assert all(figures["healthy_late"] == 0 for figures in turns.values())
    table = capsys.readouterr().out
    for _key, label, *_ in MAIN + GROWTH + MEMORY + CEILINGS + ISOLATION + FLOORS + BATCH_TURNS:
        assert f"| {label} |" in table
    assert "| end to end, 20-item batches in turns | naive | hookrelay | frameworks |" in table
    assert "the frameworks alone storing the least went" in table
    assert "2x naive with single sends is" in table
    assert "end to end with single sends in turns, CPU per delivery: hookrelay" in table


def test_hookrelay_runs_with_its_ingest_limits_out_of_the_loads_reach(tmp_path: Path) -> None:
    """The load is one key as fast as it goes: the shipped limits would end a fast run in a
    429 (500/s per key in each web process); raised, the limiter still runs and is measured."""
    need("postgresql", "redis")
    stack = HOOKRELAY.build(tmp_path)
    try:
        settings = Settings.from_env(stack.env)
    finally:
        stack.stop()

    assert settings.ingest_key_limit == settings.ingest_workspace_limit == "1000000/second"
