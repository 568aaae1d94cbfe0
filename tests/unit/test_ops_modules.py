"""Pure operations helpers: new settings, the JSON log format, the queue-lag collector."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime, timedelta

import pytest

from app.config import ConfigError, Settings
from app.logs import json_formatter
from app.metrics import QueueLagCollector

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def test_operations_settings_defaults_and_overrides() -> None:
    default = Settings.from_env({})
    assert (default.retention_days, default.purge_interval, default.worker_metrics_port) == (
        30.0,
        3600.0,
        0,
    )
    custom = Settings.from_env(
        {"HOOKRELAY_RETENTION_DAYS": "7", "HOOKRELAY_WORKER_METRICS_PORT": "9101"}
    )
    assert (custom.retention_days, custom.worker_metrics_port) == (7.0, 9101)
    with pytest.raises(ConfigError, match="RETENTION"):
        Settings.from_env({"HOOKRELAY_RETENTION_DAYS": "0"})


def test_log_lines_are_json_with_the_extra_ids() -> None:
    record = logging.LogRecord(
        "hookrelay.worker", logging.INFO, __file__, 1, "sent %s", ("x",), None
    )
    record.delivery_id = "del_1"
    record.workspace_id = "ws_1"
    line = json.loads(json_formatter().format(record))
    assert line["message"] == "sent x" and line["level"] == "INFO"
    assert (line["delivery_id"], line["workspace_id"]) == ("del_1", "ws_1")
    assert datetime.fromisoformat(line["time"]).tzinfo is not None


@pytest.mark.parametrize(
    ("oldest", "lag"), [(None, 0.0), (NOW - timedelta(seconds=42), 42.0), (NOW + timedelta(1), 0.0)]
)
def test_queue_lag_is_the_age_of_the_oldest_due(oldest: datetime | None, lag: float) -> None:
    [family] = QueueLagCollector(lambda: oldest, lambda: NOW).collect()
    assert family.name == "hookrelay_queue_lag_seconds"
    assert family.samples[0].value == lag
