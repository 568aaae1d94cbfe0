"""The table: medians of the runs with their spread, ratios per run, and the targets."""

from __future__ import annotations

import math
import os
import statistics
from dataclasses import dataclass, field
from typing import Any

from bench.systems import FRAMEWORKS

Runs = list[dict[str, float]]

# key, label, higher is better
MAIN = [
    ("e2e_per_s", "end to end, deliveries/s", True),
    ("e2e_lost", "end to end, lost", False),
    ("e2e_duplicates", "end to end, duplicates", False),
    ("e2e_cpu_ms", "end to end, CPU ms per delivery (web + workers + PostgreSQL)", False),
    ("e2e_single_per_s", "end to end with single sends, deliveries/s", True),
    ("e2e_single_lost", "end to end with single sends, lost", False),
    (
        "e2e_single_cpu_ms",
        "end to end with single sends, CPU ms per delivery (web + workers + PostgreSQL)",
        False,
    ),
    ("e2e_single_web_ms", "end to end with single sends, web CPU ms per delivery", False),
    ("e2e_single_workers_ms", "end to end with single sends, worker CPU ms per delivery", False),
    ("e2e_single_pg_ms", "end to end with single sends, PostgreSQL CPU ms per delivery", False),
    # The same with every system up and sent to in turns (phases.end_to_end_in_turns): the
    # figures the targets read.
    ("turns_e2e_single_per_s", "end to end with single sends in turns, deliveries/s", True),
    ("turns_e2e_single_lost", "end to end with single sends in turns, lost", False),
    (
        "turns_e2e_single_cpu_ms",
        "end to end with single sends in turns, CPU ms per delivery (web + workers + PostgreSQL)",
        False,
    ),
    ("batch_items_s", "ingest, 20-item batches, items/s", True),
    ("batch_p50_ms", "ingest batch p50 ms", False),
    ("batch_p99_ms", "ingest batch p99 ms", False),
    ("batch_cpu_ms", "ingest batch, web CPU ms per item", False),
    ("single_rps", "ingest, single sends, requests/s", True),
    ("single_p50_ms", "ingest single p50 ms", False),
    ("single_p99_ms", "ingest single p99 ms", False),
    ("single_cpu_ms", "ingest single, web CPU ms per accepted request", False),
    ("single_rps_core", "ingest single, requests/s per web core", True),
    # The same two figures with every system's web measured in turns (phases.single_sends_in_turns):
    # the ones the targets read.
    ("turns_single_cpu_ms", "ingest single in turns, web CPU ms per accepted request", False),
    ("turns_single_rps_core", "ingest single in turns, requests/s per web core", True),
    ("latency_p50_ms", "accept to receipt at 100/s, p50 ms", False),
    ("latency_p99_ms", "accept to receipt at 100/s, p99 ms", False),
    ("latency_lost", "latency run, lost", False),
]
LOST = ("e2e_lost", "e2e_single_lost", "turns_e2e_single_lost", "turns_e2e_lost")
# 20-item batches end to end to every system and to the frameworks alone in turns
# (bench/frameworks): the figures the batch target reads, and the ceiling under them.
BATCH_TURNS = [
    ("turns_e2e_per_s", "deliveries/s"),
    ("turns_e2e_cpu_ms", "CPU ms per delivery (web + workers + PostgreSQL)"),
    ("turns_e2e_web_ms", "web CPU ms per delivery"),
    ("turns_e2e_workers_ms", "worker CPU ms per delivery"),
    ("turns_e2e_pg_ms", "PostgreSQL CPU ms per delivery"),
    ("turns_e2e_lost", "lost"),
]
BATCH_RATE = BATCH_TURNS[0][0]  # what the batch target reads
GROWTH = [
    ("batch_items_s", "ingest batch items/s", True),
    ("single_rps", "ingest single requests/s", True),
    ("single_p50_ms", "ingest single p50 ms", False),
    ("get_rps", "GET /api/deliveries/{id} requests/s", True),
    ("list_ms", "list query (50 newest of the endpoint) ms", False),
    ("pass_ms", "one scheduler pass ms (nothing due)", False),
]
MEMORY = [
    ("worker_rss_mb", "worker RSS MB, largest process"),
    ("backlog_publish_s", "backlog published, tasks/s (one producer)"),
    ("backlog_drain_s", "backlog drained, deliveries/s"),
]
ISOLATION = [
    ("healthy_p50_ms", "healthy accept to receipt p50 ms"),
    ("healthy_p99_ms", "healthy accept to receipt p99 ms"),
    ("healthy_late", "healthy not received within 60 s"),
    ("bad_requests", "requests the bad endpoint received"),
    ("bad_most_open", "most requests open at the bad endpoint at once"),
    ("bad_while_open", "requests it received while its circuit was open"),
]
CEILINGS = [
    ("noop_publish_s", "published by one process, tasks/s"),
    ("noop_consume_s", "consumed by the benchmark's worker processes, tasks/s"),
    ("noop_cpu_ms", "worker CPU per task consumed, ms"),
    ("noop_missing", "published but not consumed"),
]

# One single send end to end in the frameworks alone (bench/floors.py), ms of CPU.
FLOORS = [
    ("floor_web_ms", "gunicorn + Flask answering the send, nothing behind it"),
    ("floor_load_ms", "the load generator's request"),
    ("floor_post_ms", "a `requests` POST on a kept-alive session"),
    ("floor_receiver_ms", "the receiver's answer to it"),
]


@dataclass
class Results:
    sizes: dict[str, Any]
    systems: list[str]
    runs: dict[str, Runs] = field(default_factory=dict)
    growth: dict[str, Runs] = field(default_factory=dict)
    # system name -> Celery alone (a no-op task) on that system's broker and worker count
    ceilings: dict[str, dict[str, float]] = field(default_factory=dict)
    # system name -> isolation turn (quiet, hang, fail, busy) -> figures
    isolation: dict[str, dict[str, dict[str, float]]] = field(default_factory=dict)
    # the frameworks alone, per single send (FLOORS)
    floors: dict[str, float] = field(default_factory=dict)


def median(runs: Runs, key: str) -> float:
    return statistics.median(r[key] for r in runs)


def cell(runs: Runs, key: str) -> str:
    values = [r[key] for r in runs]
    mid = statistics.median(values)
    if len(values) == 1:
        return _num(mid)
    return f"{_num(mid)} ({_num(min(values))}-{_num(max(values))})"


def _num(value: float) -> str:
    if abs(value) >= 100 or value == int(value):
        return f"{value:,.0f}"
    # Three significant figures below 10: CPU per item is a fraction of a millisecond.
    return f"{value:.3g}" if abs(value) < 10 else f"{value:.1f}"


def median_ratio(runs: Runs, over: Runs, key: str) -> float:
    """Median of the per-run ratios runs/over, each pair measured side by side in one run;
    NaN when no pair can be divided."""
    ratios = [a[key] / b[key] for a, b in zip(runs, over, strict=True) if b[key]]
    return statistics.median(ratios) if ratios else math.nan


def ratio(results: Results, system: str, key: str) -> str:
    """Median of the per-run ratios system/naive."""
    value = median_ratio(results.runs[system], results.runs["naive"], key)
    return "-" if math.isnan(value) else f"{value:.3g}x"


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return lines + ["| " + " | ".join(row) + " |" for row in rows]


def render(results: Results) -> str:
    out = _main(results) if results.runs else []
    if results.ceilings:
        names = list(results.ceilings)
        rows = [
            [label, *(_num(results.ceilings[n][key]) for n in names)] for key, label in CEILINGS
        ]
        out += ["", *_table(["Celery alone, a no-op task", *names], rows)]
    if results.floors:
        rows = [[label, _num(results.floors[key])] for key, label in FLOORS]
        out += ["", *_table(["one single send, the frameworks alone", "CPU ms"], rows)]
    for system, turns in results.isolation.items():
        header = [f"isolation, {system}", *(f"{turn}" for turn in turns)]
        rows = [
            [label, *(_num(figures[key]) if key in figures else "" for figures in turns.values())]
            for key, label in ISOLATION
        ]
        out += ["", *_table(header, rows)]
    if results.runs:
        out += ["", *targets(results)]
    if results.isolation:
        if not results.runs:
            out.append("")
        out += isolation_targets(results)
    return "\n".join(out)


def isolation_targets(results: Results) -> list[str]:
    """Healthy p99 within 2x the quiet p99 and under 1 s in every turn; nothing burned, lost."""
    lines = []
    for system, turns in results.isolation.items():
        quiet = turns["quiet"]["healthy_p99_ms"]
        bad = [figures for turn, figures in turns.items() if turn != "quiet"]
        worst = max(f["healthy_p99_ms"] for f in bad)
        checks = [
            (f"isolation: healthy p99 <= 2x quiet ({system})", worst <= 2 * quiet),
            (f"isolation: healthy p99 < 1 s ({system})", worst < 1000),
            (
                f"isolation: 0 requests while the circuit was open ({system})",
                all(f.get("bad_while_open", float("nan")) == 0 for f in bad),
            ),
            (
                f"isolation: 0 healthy lost ({system})",
                all(f["healthy_late"] == 0 for f in turns.values()),
            ),
        ]
        lines += [f"- {'met   ' if ok else 'MISSED'} {name}" for name, ok in checks]
    return lines


def _main(results: Results) -> list[str]:
    others = [s for s in results.systems if s != "naive"]
    header = ["figure", *results.systems, *(f"{s}/naive" for s in others)]
    rows = [
        [label, *(cell(results.runs[s], key) for s in results.systems)]
        + [ratio(results, s, key) if not key.endswith("lost") else "" for s in others]
        for key, label, _ in MAIN
    ]
    out = [f"Medians of {results.sizes['runs']} run(s), (min-max) in brackets.", ""]
    out += _table(header, rows)
    growth = results.growth
    rows = []
    for key, label, _ in GROWTH:
        empty, full = median(growth["empty"], key), median(growth["full"], key)
        change = f"{(full - empty) / empty * 100:+.0f} %" if empty else "-"
        rows.append([label, cell(growth["empty"], key), cell(growth["full"], key), change])
    rows_label = (
        f"{results.sizes['growth_rows']:,} rows + {results.sizes['growth_retries']:,} retries"
    )
    out += ["", *_table(["hookrelay", "empty table", rows_label, "change"], rows)]
    backlog = f"{results.sizes['backlog']:,} backlog"
    rows = [[label, cell(growth["memory"], key)] for key, label in MEMORY]
    return [*out, "", *_table(["hookrelay", backlog], rows), *_batch_turns(results)]


def _batch_turns(results: Results) -> list[str]:
    """The batches in turns: every system and the frameworks alone, with ratios to naive."""
    if FRAMEWORKS.name not in results.runs:
        return []
    columns = [*results.systems, FRAMEWORKS.name]
    others = columns[1:]
    header = ["end to end, 20-item batches in turns", *columns, *(f"{s}/naive" for s in others)]
    rows = [
        [label, *(cell(results.runs[s], key) for s in columns)]
        + [ratio(results, s, key) if not key.endswith("lost") else "" for s in others]
        for key, label in BATCH_TURNS
    ]
    return ["", *_table(header, rows)]


def targets(results: Results) -> list[str]:
    """Each target of the issue, met or missed, from the figures above."""
    hr, growth = results.runs["hookrelay"], results.growth

    def ratio_of(key: str) -> float:
        return median_ratio(hr, results.runs["naive"], key)

    def worse(key: str) -> float:
        """How much worse the full table is than the empty one (0 when it is better)."""
        factor = median(growth["full"], key) / median(growth["empty"], key)
        higher_better = next(h for k, _, h in GROWTH if k == key)
        return max(0.0, 1 - factor if higher_better else factor - 1)

    checks = [
        ("end to end >= 5x naive (redis)", ratio_of(BATCH_RATE) >= 5),
        (
            "end to end with single sends >= 2x naive (redis)",
            ratio_of("turns_e2e_single_per_s") >= 2,
        ),
        (
            "0 lost",
            all(r[k] == 0 for s in results.systems for r in results.runs[s] for k in LOST),
        ),
        ("batch ingest >= 1,500 items/s (redis)", median(hr, "batch_items_s") >= 1500),
        ("single ingest >= 1.5x naive", ratio_of("single_rps") >= 1.5),
        ("single send <= 1.5 ms of web CPU (redis)", median(hr, "turns_single_cpu_ms") <= 1.5),
        ("single sends per web core >= 2x naive (redis)", ratio_of("turns_single_rps_core") >= 2),
        ("latency p50 <= 30 ms", median(hr, "latency_p50_ms") <= 30),
        ("latency p99 <= 200 ms", median(hr, "latency_p99_ms") <= 200),
        ("growth: ingest within 20 %", max(worse("batch_items_s"), worse("single_rps")) <= 0.2),
        ("growth: reads within 20 %", max(worse("get_rps"), worse("list_ms")) <= 0.2),
        ("worker RSS <= 250 MB", median(growth["memory"], "worker_rss_mb") <= 250),
    ]
    if "hookrelay-rabbitmq" in results.runs:
        rabbit = results.runs["hookrelay-rabbitmq"]
        checks += [
            ("end to end >= 800/s (rabbitmq)", median(rabbit, "e2e_per_s") >= 800),
            ("batch ingest >= 3,000 items/s (rabbitmq)", median(rabbit, "batch_items_s") >= 3000),
        ]
    lines = [f"- {'met   ' if ok else 'MISSED'} {name}" for name, ok in checks]
    lines += batch_ceiling(results)
    lines += single_send_cpu(results)
    lines += single_send_floor(results)
    ceiling = results.ceilings.get("hookrelay", {}).get("noop_consume_s")
    if ceiling:
        wanted = 5 * median(results.runs["naive"], BATCH_RATE)
        lines.append(
            f"- note   5x naive end to end is {wanted:,.0f}/s; Celery alone consumes a no-op"
            f" task at {ceiling:,.0f}/s on Redis here"
        )
    return lines


def batch_ceiling(results: Results) -> list[str]:
    """How fast the frameworks alone, storing the least, went beside naive in the same turns:
    no service built of them can pass that ratio here."""
    frameworks = results.runs.get(FRAMEWORKS.name)
    if not frameworks:
        return []
    ceiling = median_ratio(frameworks, results.runs["naive"], BATCH_RATE)
    share = median_ratio(results.runs["hookrelay"], frameworks, BATCH_RATE)
    return [
        f"- note   end to end with 20-item batches in turns, the frameworks alone storing the"
        f" least went {ceiling:.2f}x naive; hookrelay went {share:.2f}x as fast as they did"
    ]


def single_send_cpu(results: Results) -> list[str]:
    """Where the single sends' CPU went: on shared cores a rate is the cores over the CPU
    per delivery, so 2x naive's rate needs half naive's CPU per delivery."""
    hr = results.runs["hookrelay"]
    if "turns_e2e_single_cpu_ms" not in hr[0]:
        return []
    naive = median(results.runs["naive"], "turns_e2e_single_cpu_ms")
    parts = ", ".join(
        f"{part} {median(hr, f'turns_e2e_single_{key}_ms'):.2f}"
        for key, part in (("web", "web"), ("workers", "workers"), ("pg", "PostgreSQL"))
    )
    return [
        f"- note   end to end with single sends in turns, CPU per delivery: hookrelay"
        f" {median(hr, 'turns_e2e_single_cpu_ms'):.2f} ms ({parts}), naive {naive:.2f} ms;"
        f" 2x naive's rate on shared cores needs {naive / 2:.2f} ms"
    ]


def single_send_floor(results: Results, cores: int | None = None) -> list[str]:
    """The CPU a delivery may cost for 2x naive with single sends, against what the
    frameworks alone take of it: each single send is a web request, a Celery task and a POST."""
    noop = results.ceilings.get("hookrelay", {}).get("noop_cpu_ms")
    if not results.floors or not noop:
        return []
    cores = cores or os.cpu_count() or 1
    wanted = 2 * median(results.runs["naive"], "turns_e2e_single_per_s")
    budget = cores / wanted * 1000
    floor = sum(results.floors[key] for key, _ in FLOORS) + noop
    return [
        f"- note   2x naive with single sends is {wanted:,.0f}/s: {budget:.2f} ms of CPU per"
        f" delivery on {cores} cores; the frameworks alone take {floor:.2f} ms of it (web"
        f" {results.floors['floor_web_ms']:.2f}, load {results.floors['floor_load_ms']:.2f},"
        f" Celery {noop:.2f}, POST {results.floors['floor_post_ms']:.2f}, receiver"
        f" {results.floors['floor_receiver_ms']:.2f}), before any database work"
    ]
