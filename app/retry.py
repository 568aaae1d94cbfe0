"""What happens after an attempt: delivered, retried later, dead-lettered or failed for good."""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime

from app.domain import DeliveryStatus

MAX_RETRY_AFTER = 24 * 3600.0
JITTER = 0.1  # +/-10 %: spreads a retry storm after an outage without reordering the ladder


@dataclass(frozen=True)
class AttemptResult:
    """What one HTTP attempt produced; `refused` means it was never sent and never will be."""

    status_code: int | None = None
    error: str | None = None
    response_time_ms: int | None = None
    body_excerpt: str | None = None
    retry_after: str | None = None
    refused: bool = False

    @property
    def succeeded(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


@dataclass(frozen=True)
class Decision:
    status: DeliveryStatus
    next_attempt_at: datetime | None = None
    disable_endpoint: bool = False


def parse_retry_after(value: str | None, now: datetime) -> float | None:
    """Seconds the receiver asked us to wait: delta-seconds or an HTTP date; None if unusable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        seconds = float(value)
    else:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - now).total_seconds()
    return min(max(seconds, 0.0), MAX_RETRY_AFTER)


def decide(
    result: AttemptResult,
    attempt_number: int,
    schedule: Sequence[float],
    now: datetime,
    rng: random.Random | None = None,
) -> Decision:
    """Decide the delivery's next state after attempt number `attempt_number` (1-based)."""
    if result.succeeded:
        return Decision(DeliveryStatus.DELIVERED)
    if result.status_code == 410:
        # The receiver says the URL is gone for good: stop sending to it at all.
        return Decision(DeliveryStatus.FAILED, disable_endpoint=True)
    if result.refused:
        return Decision(DeliveryStatus.FAILED)
    retry_index = attempt_number - 1
    if retry_index >= len(schedule):
        return Decision(DeliveryStatus.DEAD_LETTER)
    delay = schedule[retry_index] * (1 + (rng or random).uniform(-JITTER, JITTER))
    if result.status_code in (429, 503):
        asked = parse_retry_after(result.retry_after, now)
        if asked is not None:
            delay = max(delay, asked)
    return Decision(DeliveryStatus.SCHEDULED_RETRY, next_attempt_at=now + timedelta(seconds=delay))
