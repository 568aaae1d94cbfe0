"""Health checks and metrics through Flask's test client, with dependencies missing."""

from __future__ import annotations

import os
from pathlib import Path

from app import create_app
from app.config import Settings


def test_readyz_is_503_naming_an_unreachable_broker(tmp_path: Path) -> None:
    settings = Settings.from_env(
        {
            "HOOKRELAY_DATA_DIR": str(tmp_path),
            "BROKER_URL": "redis://127.0.0.1:1/0",
            # The encryption keyring is process-wide: keep the one every other test uses.
            "HOOKRELAY_ENCRYPTION_KEYS": os.environ["HOOKRELAY_ENCRYPTION_KEYS"],
        }
    )
    client = create_app(settings).test_client()

    assert client.get("/healthz").get_json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 503
    checks = ready.get_json()["checks"]
    assert checks["database"] == "ok"
    assert checks["broker"].startswith("unreachable")
    metrics = client.get("/metrics")
    assert metrics.status_code == 200
    # the schema is missing here: the lag is left out, the other metrics still answer
    assert b"hookrelay_deliveries_accepted_total" in metrics.data
    assert b"hookrelay_queue_lag_seconds" not in metrics.data
