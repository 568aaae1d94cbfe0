"""The retry policy: schedule, jitter, Retry-After, 410 and refusals."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from app.config import DEFAULT_RETRY_SCHEDULE
from app.retry import AttemptResult, decide, parse_retry_after

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def test_2xx_is_delivered() -> None:
    assert decide(AttemptResult(status_code=204), 1, (1,), NOW).status == "delivered"


@pytest.mark.parametrize(
    "result",
    [
        AttemptResult(status_code=500),
        AttemptResult(status_code=404),
        AttemptResult(status_code=302),
        AttemptResult(error="timeout"),
    ],
)
def test_failures_are_retried_on_schedule_with_bounded_jitter(result: AttemptResult) -> None:
    decision = decide(result, 2, (5, 300, 1800), NOW, random.Random(1))
    assert decision.status == "scheduled_retry"
    assert decision.next_attempt_at is not None
    delay = (decision.next_attempt_at - NOW).total_seconds()
    assert 270 <= delay <= 330


def test_jitter_actually_varies() -> None:
    rng = random.Random(7)
    delays = {
        decide(AttemptResult(status_code=500), 1, (100,), NOW, rng).next_attempt_at
        for _ in range(5)
    }
    assert len(delays) == 5


def test_schedule_exhausted_is_dead_letter() -> None:
    assert decide(AttemptResult(status_code=500), 4, (1, 1, 1), NOW).status == "dead_letter"
    assert decide(AttemptResult(status_code=500), 1, (), NOW).status == "dead_letter"


def test_410_fails_and_disables() -> None:
    decision = decide(AttemptResult(status_code=410), 1, (1,), NOW)
    assert (decision.status, decision.disable_endpoint) == ("failed", True)


def test_refused_destination_fails_without_retry() -> None:
    decision = decide(AttemptResult(error="destination refused", refused=True), 1, (1,), NOW)
    assert (decision.status, decision.disable_endpoint) == ("failed", False)


@pytest.mark.parametrize("status", [429, 503])
def test_retry_after_extends_the_wait(status: int) -> None:
    result = AttemptResult(status_code=status, retry_after="120")
    decision = decide(result, 1, (1,), NOW)
    assert decision.next_attempt_at == NOW + timedelta(seconds=120)


def test_retry_after_is_ignored_on_other_statuses() -> None:
    decision = decide(AttemptResult(status_code=500, retry_after="120"), 1, (1,), NOW)
    assert decision.next_attempt_at is not None
    assert decision.next_attempt_at < NOW + timedelta(seconds=2)


def test_parse_retry_after_forms() -> None:
    assert parse_retry_after("30", NOW) == 30
    assert parse_retry_after("Thu, 01 Jan 2026 00:01:00 GMT", NOW) == 60
    assert parse_retry_after("soon", NOW) is None
    assert parse_retry_after(None, NOW) is None
    assert parse_retry_after("99999999", NOW) == 24 * 3600


def test_default_schedule_spans_about_a_day() -> None:
    total = sum(DEFAULT_RETRY_SCHEDULE)
    assert 20 * 3600 <= total <= 30 * 3600
    assert list(DEFAULT_RETRY_SCHEDULE) == sorted(DEFAULT_RETRY_SCHEDULE)
