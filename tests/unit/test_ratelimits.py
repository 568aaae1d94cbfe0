"""The API's limits on the in-process store: 429 `rate_limited` with a whole-second Retry-After."""

from __future__ import annotations

import threading
import time

import pytest

from app.config import Settings
from app.errors import APIError
from app.ratelimits import SWEEP_EVERY, RateLimits


def _limits(**env: str) -> RateLimits:
    return RateLimits(Settings.from_env(env))


def _refused(call: object, *args: str) -> APIError:
    with pytest.raises(APIError) as caught:
        call(*args)  # type: ignore[operator]
    return caught.value


def test_ingest_is_limited_per_workspace_and_per_key() -> None:
    limits = _limits(HOOKRELAY_INGEST_LIMIT="3/minute", HOOKRELAY_INGEST_KEY_LIMIT="2/minute")
    limits.ingest("ws_a", "key_1")
    limits.ingest("ws_a", "key_1")
    by_key = _refused(limits.ingest, "ws_a", "key_1")
    limits.ingest("ws_a", "key_2")  # another key of the same workspace: the key limit is its own
    by_workspace = _refused(limits.ingest, "ws_a", "key_3")
    limits.ingest("ws_b", "key_4")

    for refused in (by_key, by_workspace):
        assert (refused.status, refused.code) == (429, "rate_limited")
        assert 1 <= int(refused.headers["Retry-After"]) <= 60


def test_management_is_limited_per_token_and_can_be_turned_off() -> None:
    limited = _limits(HOOKRELAY_MANAGEMENT_LIMIT="1/hour")
    unlimited = _limits(HOOKRELAY_MANAGEMENT_LIMIT="")
    limited.management("tok_1")
    limited.management("tok_2")
    refused = _refused(limited.management, "tok_1")
    for _ in range(50):
        unlimited.management("tok_1")

    assert refused.status == 429 and 1 <= int(refused.headers["Retry-After"]) <= 3600


def test_a_refused_batch_says_when_its_token_comes() -> None:
    now = [1_800_000_000.0]
    limits = RateLimits(
        Settings.from_env(
            {
                "HOOKRELAY_BATCH_BURST": "1",
                "HOOKRELAY_BATCH_RATE": "0.25",
                "HOOKRELAY_BATCH_MAX_WAIT": "0",
            }
        ),
        clock=lambda: now[0],
    )
    assert limits.batch("ws_a") == 0
    refused = _refused(limits.batch, "ws_a")
    now[0] += 4
    assert limits.batch("ws_a") == 0

    assert refused.status == 429 and refused.headers["Retry-After"] == "4"


def test_the_in_process_store_starts_no_thread_per_request(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    limits = _limits(HOOKRELAY_INGEST_LIMIT="1000/second", HOOKRELAY_INGEST_KEY_LIMIT="")
    limits.ingest("ws_a", "key_1")
    started: list[threading.Thread] = []
    real_start = threading.Thread.start

    def start(thread: threading.Thread) -> None:
        started.append(thread)
        real_start(thread)

    monkeypatch.setattr(threading.Thread, "start", start)
    for _ in range(20):
        time.sleep(0.015)  # longer than the 10 ms after which limits' own sweep thread ends
        limits.ingest("ws_a", "key_1")

    # Only the store's own threads count: the suite's other fixtures start threads of theirs.
    assert [t for t in started if isinstance(t, threading.Timer)] == []


def test_the_in_process_store_still_forgets_expired_windows() -> None:
    limits = _limits(HOOKRELAY_INGEST_LIMIT="2/second", HOOKRELAY_INGEST_KEY_LIMIT="")
    limits.ingest("ws_a", "key_1")
    limits.ingest("ws_a", "key_1")
    _refused(limits.ingest, "ws_a", "key_1")
    time.sleep(SWEEP_EVERY + 0.1)
    limits.ingest("ws_b", "key_2")  # any request sweeps once the interval has passed

    events = limits._windows.storage.events  # type: ignore[attr-defined]
    assert [events[key] for key in events if "ws_a" in key] == [[]]
    limits.ingest("ws_a", "key_1")  # and the window has moved on
