"""Prometheus metrics of the web process and the worker, and the queue-lag collector.

The web process runs under gunicorn with several processes, so it uses prometheus_client's
multiprocess mode when `PROMETHEUS_MULTIPROC_DIR` is set (gunicorn.conf.py sets it): every
process writes its samples to files there and `/metrics` adds them up. The worker is one
process (a thread pool), so it serves its own registry on `HOOKRELAY_WORKER_METRICS_PORT`.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterator
from datetime import datetime

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

__all__ = ["CONTENT_TYPE_LATEST", "exposition"]
log = logging.getLogger(__name__)

INGEST_REQUESTS = Counter(
    "hookrelay_ingest_requests",
    "HTTP requests to the ingest and results API, by route and status.",
    ["route", "status"],
)
DELIVERIES_ACCEPTED = Counter(
    "hookrelay_deliveries_accepted", "Deliveries stored by ingest and fan-out."
)
ATTEMPTS = Counter(
    "hookrelay_delivery_attempts", "Delivery attempts made by workers, by outcome.", ["outcome"]
)
# From a few milliseconds (a healthy receiver) to a day of retries.
LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 1800, 7200, 36000, 86400)
DELIVERY_LATENCY = Histogram(
    "hookrelay_delivery_latency_seconds",
    "Seconds from accepting a delivery to its first successful attempt.",
    buckets=LATENCY_BUCKETS,
)

CIRCUIT_TRANSITIONS = Counter(
    "hookrelay_endpoint_circuit_transitions",
    "Endpoint circuit breaker changes of state seen by this worker, by the state entered.",
    ["state"],
)
DEFERRALS = Counter(
    "hookrelay_deliveries_deferred",
    "Deliveries a claim held back without an attempt, by reason "
    "(max_in_flight, circuit_open, paused, rate_limit).",
    ["reason"],
)


class QueueLagCollector(Collector):
    """Age of the oldest delivery that is due but not yet claimed, read at scrape time."""

    def __init__(self, oldest_due: Callable[[], datetime | None], now: Callable[[], datetime]):
        self._oldest_due = oldest_due
        self._now = now

    def collect(self) -> Iterator[GaugeMetricFamily]:
        try:
            oldest = self._oldest_due()
        except Exception as exc:  # the other metrics still matter while the database is down
            log.warning("queue lag unavailable", extra={"error": type(exc).__name__})
            return
        lag = 0.0 if oldest is None else max(0.0, (self._now() - oldest).total_seconds())
        yield GaugeMetricFamily(
            "hookrelay_queue_lag_seconds",
            "Age of the oldest due delivery no worker has claimed yet (0 when none).",
            value=lag,
        )


def exposition(extra: Collector | None = None) -> bytes:
    """The text exposition of this process (or of all gunicorn processes) plus `extra`."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        MultiProcessCollector(registry)
        output = generate_latest(registry)
    else:
        output = generate_latest(REGISTRY)
    if extra is not None:
        registry = CollectorRegistry()
        registry.register(extra)
        output += generate_latest(registry)
    return output
