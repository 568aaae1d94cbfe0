"""An inline SVG bar chart: no script, no external asset."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

WIDTH, HEIGHT, PAD = 720, 160, 24


@dataclass(frozen=True)
class Bar:
    x: float
    width: float
    ok_y: float
    ok_height: float
    fail_y: float
    fail_height: float
    title: str


def stacked_bars(series: list[tuple[datetime, int, int]]) -> tuple[list[Bar], int]:
    """Bars (succeeded below, failed on top) per minute, and the top of the scale."""
    top = max((ok + failed for _, ok, failed in series), default=0) or 1
    width = WIDTH / max(len(series), 1)
    scale = (HEIGHT - PAD) / top
    bars = []
    for n, (minute, ok, failed) in enumerate(series):
        ok_h, fail_h = ok * scale, failed * scale
        bars.append(
            Bar(
                x=n * width,
                width=max(width - 1, 1),
                ok_y=HEIGHT - ok_h,
                ok_height=ok_h,
                fail_y=HEIGHT - ok_h - fail_h,
                fail_height=fail_h,
                title=f"{minute:%H:%M} UTC: {ok} succeeded, {failed} failed",
            )
        )
    return bars, top
