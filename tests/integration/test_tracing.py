"""Traces across the pipeline: one webhook is one trace from the ingest request to the attempt.

A real stack (web, worker, scheduler on PostgreSQL + Redis) exports with the SDK's OTLP
exporter to a collector in the test process; a retry's attempt runs in its own trace, linked
to the ingest trace through the traceparent kept on the delivery row.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator

import pytest
import requests

from tests.support.collector import Collector, Span
from tests.support.receiver import Receiver
from tests.support.stack import Stack

pytestmark = pytest.mark.integration
MARKER = "payload-marker-7f3a"


@pytest.fixture
def collector() -> Iterator[Collector]:
    server = Collector().start()
    yield server
    server.stop()


def _attempts(delivery_id: str, count: int) -> Callable[[list[Span]], bool]:
    def found(spans: list[Span]) -> bool:
        attempts = [s for s in spans if s.attributes.get("hookrelay.delivery_id") == delivery_id]
        return sum(s.name == "deliver attempt" for s in attempts) >= count and all(
            any(c.parent_id == a.span_id for c in spans) for a in attempts if a.kind == "INTERNAL"
        )

    return found


def _ancestors(span: Span, by_id: dict[str, Span]) -> list[Span]:
    chain = []
    while span.parent_id in by_id:
        span = by_id[span.parent_id]
        chain.append(span)
    return chain


def test_one_webhook_is_one_trace_and_its_retry_links_to_it(
    fresh_stack: Callable[..., Stack], receiver: Receiver, collector: Collector
) -> None:
    stack = fresh_stack(
        "pg-redis",
        OTEL_TRACES_EXPORTER="otlp",
        OTEL_EXPORTER_OTLP_ENDPOINT=collector.endpoint,
        OTEL_BSP_SCHEDULE_DELAY="100",
    ).start(workers=1)
    tenant = stack.tenant()
    endpoint = stack.endpoint(tenant, receiver.url("traced", fail=1))

    response = requests.post(
        f"{stack.base_url}/api/ingest/{endpoint['id']}",
        data=json.dumps({"payload": {"marker": MARKER}}),
        headers={"Authorization": f"Bearer {tenant.api_key}", "Content-Type": "application/json"},
        timeout=10,
    )
    assert response.status_code == 202
    delivery_id = response.json()["deliveryId"]
    assert stack.wait_final(delivery_id).status == "delivered"
    spans = collector.wait_for(_attempts(delivery_id, 2))
    by_id = {s.span_id: s for s in spans}

    # The first attempt: ingest request -> publish -> task -> attempt -> POST, one trace.
    first, retry = sorted(
        (s for s in spans if s.name == "deliver attempt"),
        key=lambda s: s.attributes["hookrelay.attempt"],
    )
    assert first.attributes["hookrelay.workspace_id"] == tenant.workspace_id
    assert first.attributes["hookrelay.endpoint_id"] == endpoint["id"]
    chain = _ancestors(first, by_id)
    assert [(s.service, s.kind) for s in chain] == [
        ("hookrelay-worker", "CONSUMER"),  # the Celery task
        ("hookrelay-web", "PRODUCER"),  # the publish after the commit
        ("hookrelay-web", "SERVER"),  # the ingest request
    ]
    publish, request = chain[1], chain[2]
    assert publish.attributes["hookrelay.delivery_id"] == delivery_id
    assert request.attributes["http.route"] == "/api/ingest/<endpoint_id>"
    assert request.attributes["hookrelay.workspace_id"] == tenant.workspace_id
    ingest_trace = [s for s in spans if s.trace_id == first.trace_id]
    assert any(s.parent_id == request.span_id and "db.system" in s.attributes for s in ingest_trace)
    [post] = [s for s in ingest_trace if s.parent_id == first.span_id and s.kind == "CLIENT"]
    status = post.attributes.get(
        "http.status_code", post.attributes.get("http.response.status_code")
    )
    assert status == 500

    # The retry, published later by the scheduler: its own trace, linked to the ingest trace.
    assert retry.trace_id != first.trace_id
    assert retry.links == [(request.trace_id, request.span_id)]
    assert stack.delivery(delivery_id).traceparent.split("-")[1] == first.trace_id

    # The receiver can join the trace too; the spans hold ids, never the payload or secrets.
    [failed, delivered] = receiver.wait_for("traced", 2)
    assert failed.headers["traceparent"].split("-")[1] == first.trace_id
    assert delivered.headers["traceparent"].split("-")[1] == retry.trace_id
    values = " ".join(str(v) for s in spans for v in s.attributes.values())
    for secret in (MARKER, endpoint["secret"], tenant.api_key, "traced"):
        assert secret not in values
