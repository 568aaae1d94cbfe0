"""gunicorn + Flask answering a single send with nothing behind it: no key, no row, no task.

The same request and answer shapes as a single send to hookrelay or the naive baseline, so
the same load generator drives it; `bench/floors.py` runs it with the web process's Procfile
worker model to measure what the framework alone costs per request.
"""

from __future__ import annotations

import uuid

from flask import Flask, request

app = Flask(__name__)


@app.post("/api/ingest/<endpoint_id>")
def send(endpoint_id: str) -> tuple[dict[str, str], int]:
    request.get_json()
    return {"deliveryId": str(uuid.uuid4()), "endpointId": endpoint_id}, 202
