"""When tracing is on: only when the environment names an exporter, as the OTEL_* variables say."""

from __future__ import annotations

import pytest

from app import tracing


@pytest.mark.parametrize(
    ("env", "on"),
    [
        ({}, False),  # off by default, unlike the SDK's own default of `otlp`
        ({"OTEL_TRACES_EXPORTER": "none"}, False),
        ({"OTEL_TRACES_EXPORTER": "otlp"}, True),
        ({"OTEL_TRACES_EXPORTER": "console,otlp"}, True),
        ({"OTEL_TRACES_EXPORTER": "otlp", "OTEL_SDK_DISABLED": "true"}, False),
        ({"OTEL_TRACES_EXPORTER": "otlp", "OTEL_SDK_DISABLED": "false"}, True),
    ],
)
def test_traces_only_when_an_exporter_is_named(env: dict[str, str], on: bool) -> None:
    assert tracing.wanted(env) is on


def test_off_means_no_spans_and_nothing_kept() -> None:
    assert tracing.setup("web", {}) is False
    assert tracing.ingest_traceparent("ws_1") is None
    with tracing.publishing("del_1", headers := {}):
        pass
    assert headers == {}


def test_an_unknown_exporter_is_named_in_the_error() -> None:
    with pytest.raises(ValueError, match="no span exporter named 'nosuch'"):
        tracing._exporter("nosuch")
