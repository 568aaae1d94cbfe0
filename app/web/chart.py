"""An inline SVG bar chart with a time axis: no script, no external asset."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

WIDTH, HEIGHT, PAD = 720, 160, 24
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Range:
    """A choice of the chart: how far back it looks and how wide each bar is."""

    label: str
    span: timedelta
    step: timedelta
    step_label: str
    tick_every: timedelta  # labels fall on round times: every 10 minutes, 4 hours, midnight
    tick_format: str


MINUTE, HOUR, DAY = timedelta(minutes=1), timedelta(hours=1), timedelta(days=1)
RANGES = {
    "1h": Range("1 h", HOUR, MINUTE, "minute", 10 * MINUTE, "%H:%M"),
    "24h": Range("24 h", DAY, 15 * MINUTE, "15 minutes", 4 * HOUR, "%H:%M"),
    "7d": Range("7 d", 7 * DAY, 2 * HOUR, "2 hours", DAY, "%a %d"),
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
    """A label under each bar that starts on a round time (`tick_every`), in UTC."""
    width = WIDTH / max(len(series), 1)
    return [
        Tick(n * width, f"{start:{chosen.tick_format}}")
        for n, (start, _ok, _failed) in enumerate(series)
        if (start - EPOCH) % chosen.tick_every == timedelta(0)
    ]
