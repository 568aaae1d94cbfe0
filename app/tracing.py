"""OpenTelemetry traces of one webhook: ingest request, publish, task, attempt.

Off unless `OTEL_TRACES_EXPORTER` names an exporter (`otlp`, `console`, or any installed
`opentelemetry_traces_exporter` entry point) and `OTEL_SDK_DISABLED` is not true. When off,
nothing is imported or instrumented and every helper here returns at once, so the ingest path
costs what it did without tracing. The rest of the configuration is the SDK's own `OTEL_*`
variables (`OTEL_EXPORTER_OTLP_ENDPOINT`, `OTEL_SERVICE_NAME`, `OTEL_TRACES_SAMPLER`, ...).

What is traced, and what is left out on purpose:
- web: every request (Flask), its SQL (SQLAlchemy) and the publish of each task message;
- worker: the task (Celery, context taken from the message) and the attempt with its POST
  (requests). The worker's claims and records are group commits shared by many deliveries,
  so their SQL belongs to no one webhook and is not traced.
- The context travels in the task message's headers, injected here inside a producer span
  that covers the send. The Celery instrumentation's publish hook does see these messages
  (`send_task_message` sends its signals), but with the task not registered in the
  publishing process (the web publishes by name) it cannot keep its span from one signal to
  the next: the span ends as the first handler returns, before the message is sent. So the
  web and the scheduler leave Celery uninstrumented; the worker instruments it to consume.
- A retry runs in a new trace (the scheduler publishes it, maybe hours later) whose attempt
  span links to the trace of the ingest request, kept on the delivery row as `traceparent`.
- Span attributes carry delivery, workspace and endpoint ids, never payloads, headers or
  secrets; URLs lose their path and query (a webhook URL's path is often its secret).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Mapping, MutableMapping
from contextlib import AbstractContextManager, contextmanager, nullcontext
from importlib.metadata import entry_points
from typing import TYPE_CHECKING, Any
from urllib.parse import SplitResult, urlsplit, urlunsplit

from app.config import ConfigError

if TYPE_CHECKING:
    from flask import Flask
    from opentelemetry.sdk.trace.export import SpanExporter
    from sqlalchemy import Engine

    from app.services.delivering import Claim

_TRACER_NAME = "hookrelay"
_NOTHING: AbstractContextManager[None] = nullcontext()
# Request spans of these paths are not recorded: probes and scrapes, many per minute.
_EXCLUDED_URLS = "healthz,readyz,metrics"
_URL_ATTRIBUTES = ("http.url", "url.full", "http.target")
enabled = False


def wanted(env: Mapping[str, str] = os.environ) -> bool:
    """Whether the environment asks for traces: an exporter named, and the SDK not disabled."""
    if env.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    names = env.get("OTEL_TRACES_EXPORTER", "").strip().lower()
    return names not in ("", "none")


def setup(service: str, env: Mapping[str, str] = os.environ) -> bool:
    """Install the tracer provider and the instrumentations every process shares.

    `service` names the process (`web`, `worker`, `scheduler`); it becomes
    `hookrelay-<service>` unless `OTEL_SERVICE_NAME` says otherwise. Safe to call again.
    """
    global enabled
    if enabled or not wanted(env):
        return enabled
    try:
        from opentelemetry import trace
        from opentelemetry.instrumentation.requests import RequestsInstrumentor
        from opentelemetry.sdk.resources import SERVICE_NAME, Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor
    except ImportError as exc:
        raise ConfigError(
            "OTEL_TRACES_EXPORTER is set but the tracing packages are missing: "
            "pip install 'hookrelay[tracing]'"
        ) from exc

    attributes = {} if env.get("OTEL_SERVICE_NAME") else {SERVICE_NAME: f"hookrelay-{service}"}
    provider = TracerProvider(resource=Resource.create(attributes))
    for name in env["OTEL_TRACES_EXPORTER"].split(","):
        if name.strip().lower() not in ("", "none"):
            provider.add_span_processor(BatchSpanProcessor(_exporter(name.strip().lower())))
    trace.set_tracer_provider(provider)
    RequestsInstrumentor().instrument(request_hook=_redact_request_span)
    enabled = True
    return True


def _exporter(name: str) -> SpanExporter:
    """`otlp` is OTLP over HTTP/protobuf (the exporter installed with the extra)."""
    if name == "otlp":
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        return OTLPSpanExporter()
    if name == "console":
        from opentelemetry.sdk.trace.export import ConsoleSpanExporter

        return ConsoleSpanExporter()
    found = entry_points(group="opentelemetry_traces_exporter", name=name)
    if not found:
        raise ValueError(f"OTEL_TRACES_EXPORTER: no span exporter named {name!r} is installed")
    exporter: SpanExporter = next(iter(found)).load()()
    return exporter


def instrument_web(flask_app: Flask, engine: Engine) -> None:
    """Trace the app's requests and the SQL they run."""
    if not enabled:
        return
    from opentelemetry.instrumentation.flask import FlaskInstrumentor
    from opentelemetry.instrumentation.sqlalchemy import SQLAlchemyInstrumentor

    FlaskInstrumentor().instrument_app(
        flask_app,
        request_hook=_redact_server_span,
        excluded_urls=os.environ.get("OTEL_PYTHON_FLASK_EXCLUDED_URLS", _EXCLUDED_URLS),
        enable_commenter=False,
    )
    # The instrumentation declares SQLAlchemy < 2.1 and refuses 2.1, whose engine events
    # it uses are unchanged; the test of traces checks its SQL spans on 2.1.
    SQLAlchemyInstrumentor().instrument(engine=engine, enable_commenter=False, skip_dep_check=True)


def instrument_worker() -> None:
    """Trace each task, continuing the trace whose context its message carries."""
    if not enabled:
        return
    from opentelemetry.instrumentation.celery import CeleryInstrumentor

    CeleryInstrumentor().instrument()


def _redact_server_span(span: Any, _environ: Mapping[str, Any]) -> None:
    """No query strings: a portal link's one-time code travels in one."""
    _rewrite_urls(span, lambda parts: parts._replace(query="", fragment=""))


def _redact_request_span(span: Any, _request: Any) -> None:
    """Scheme, host and port of the endpoint only: its path or query may be the secret."""
    _rewrite_urls(span, lambda parts: parts._replace(path="/", query="", fragment=""))


def _rewrite_urls(span: Any, keep: Callable[[SplitResult], SplitResult]) -> None:
    attributes = getattr(span, "attributes", None) or {}
    for key in _URL_ATTRIBUTES:
        value = attributes.get(key)
        if isinstance(value, str):
            span.set_attribute(key, urlunsplit(keep(urlsplit(value))))
    if "url.query" in attributes:  # the newer conventions keep the query on its own
        span.set_attribute("url.query", "")


def ingest_traceparent(workspace_id: str) -> str | None:
    """Label the current span with the workspace; the traceparent to keep on its deliveries."""
    if not enabled:
        return None
    from opentelemetry import trace
    from opentelemetry.propagate import inject

    trace.get_current_span().set_attribute("hookrelay.workspace_id", workspace_id)
    carrier: dict[str, str] = {}
    inject(carrier)
    return carrier.get("traceparent")


def publishing(delivery_id: str, headers: MutableMapping[str, Any]) -> AbstractContextManager[Any]:
    """A producer span around one task message, its context written into `headers`."""
    if not enabled:
        return _NOTHING
    return _publishing(delivery_id, headers)


@contextmanager
def _publishing(delivery_id: str, headers: MutableMapping[str, Any]) -> Iterator[None]:
    from opentelemetry import trace
    from opentelemetry.propagate import inject

    tracer = trace.get_tracer(_TRACER_NAME)
    with tracer.start_as_current_span(
        "publish deliveries.deliver",
        kind=trace.SpanKind.PRODUCER,
        attributes={"messaging.system": "celery", "hookrelay.delivery_id": delivery_id},
    ):
        inject(headers)
        yield


def attempting(claim: Claim) -> AbstractContextManager[Any]:
    """The span of one attempt, linked to the ingest trace when it runs in another one."""
    if not enabled:
        return _NOTHING
    return _attempting(claim)


@contextmanager
def _attempting(claim: Claim) -> Iterator[None]:
    from opentelemetry import trace
    from opentelemetry.propagate import extract

    current = trace.get_current_span().get_span_context()
    links = []
    if claim.traceparent:
        origin = trace.get_current_span(extract({"traceparent": claim.traceparent}))
        ingest = origin.get_span_context()
        if ingest.is_valid and ingest.trace_id != current.trace_id:
            links.append(trace.Link(ingest, {"hookrelay.link": "ingest"}))
    tracer = trace.get_tracer(_TRACER_NAME)
    with tracer.start_as_current_span(
        "deliver attempt",
        links=links,
        attributes={
            "hookrelay.delivery_id": claim.delivery_id,
            "hookrelay.workspace_id": claim.endpoint.workspace_id,
            "hookrelay.endpoint_id": claim.endpoint.id,
            "hookrelay.attempt": claim.attempt_number,
        },
    ):
        yield
