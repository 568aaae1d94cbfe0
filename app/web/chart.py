"""An inline SVG bar chart with a time axis: no script, no external asset."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

WIDTH, HEIGHT, PAD = 720, 160, 24
TICKS = 6


@dataclass(frozen=True)
class Range:
    """A choice of the chart: how far back it looks and how wide each bar is."""

    label: str
    span: timedelta
    step: timedelta
    step_label: str
    tick_format: str


RANGES = {
    "1h": Range("1 h", timedelta(hours=1), timedelta(minutes=1), "minute", "%H:%M"),
    "24h": Range("24 h", timedelta(hours=24), timedelta(minutes=15), "15 minutes", "%H:%M"),
    "7d": Range("7 d", timedelta(days=7), timedelta(hours=2), "2 hours", "%a %d %H:%M"),
}
DEFAULT_RANGE = "24h"


@dataclass(frozen=True)
class Bar:
    x: float
    width: float
    ok_y: float
    ok_height: float
    fail_y: float
    fail_height: float
    title: str


@dataclass(frozen=True)
class Tick:
    x: float
    label: str


def stacked_bars(series: list[tuple[datetime, int, int]]) -> tuple[list[Bar], int]:
    """Bars (succeeded below, failed on top) per bucket, and the top of the scale."""
    top = max((ok + failed for _, ok, failed in series), default=0) or 1
    width = WIDTH / max(len(series), 1)
    scale = (HEIGHT - PAD) / top
    bars = []
    for n, (start, ok, failed) in enumerate(series):
        ok_h, fail_h = ok * scale, failed * scale
        bars.append(
            Bar(
                x=n * width,
                width=max(width - 1, 1),
                ok_y=HEIGHT - ok_h,
                ok_height=ok_h,
                fail_y=HEIGHT - ok_h - fail_h,
                fail_height=fail_h,
                title=f"{start:%Y-%m-%d %H:%M} UTC: {ok} succeeded, {failed} failed",
            )
        )
    return bars, top


def time_axis(series: list[tuple[datetime, int, int]], chosen: Range) -> list[Tick]:
    """About `TICKS` evenly spaced labels under the bars, in UTC."""
    if not series:
        return []
    width = WIDTH / len(series)
    every = max(len(series) // TICKS, 1)
    return [
        Tick(n * width, f"{start:{chosen.tick_format}}")
        for n, (start, _ok, _failed) in enumerate(series)
        if n % every == 0
    ]
