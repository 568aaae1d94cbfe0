"""hookrelay's frameworks end to end, storing the least a delivery service must, and no more.

A 20-item batch is one gunicorn + Flask request that writes its 20 rows in one statement
and publishes one Celery task per row (hookrelay's publisher and Celery settings); each
task reads its row, sends one signed `requests` POST to the receiver and marks the row
delivered. No key lookup, validation, idempotency, lease, attempt row, retry or log line:
the end-to-end batch row sets hookrelay against what any service built of these parts,
and durable by the same measure (a row written before the 202, marked after the POST),
does on this machine (docs/performance.md, round 16).

Same request shapes as hookrelay's ingest API, so one load generator drives all three.
Run as `python -m bench.frameworks.app` to create its one table (the Procfile's release).
"""

from __future__ import annotations

import json
import logging
import os
import threading
import uuid
from datetime import UTC, datetime
from typing import Any

import psycopg
import requests
from celery import signals
from flask import Flask, abort, request

from app.config import Settings
from app.queue import DELIVER_TASK, Publisher, make_celery
from app.signing import signature_headers

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
DATABASE_URL = os.environ["DATABASE_URL"].replace("postgresql+psycopg://", "postgresql://")
TABLE = """CREATE TABLE IF NOT EXISTS frameworks_deliveries (
    id text PRIMARY KEY,
    payload text NOT NULL,
    status text NOT NULL DEFAULT 'pending',
    created_at timestamptz NOT NULL DEFAULT now(),
    delivered_at timestamptz
)"""
STORE = (
    "INSERT INTO frameworks_deliveries (id, payload) SELECT * FROM unnest(%s::text[], %s::text[])"
)
READ = "SELECT payload FROM frameworks_deliveries WHERE id = %s"
MARK = "UPDATE frameworks_deliveries SET status = 'delivered', delivered_at = now() WHERE id = %s"

celery = make_celery(Settings.from_env(), name="hookrelay-frameworks")
publisher = Publisher(celery)
app = Flask(__name__)
_local = threading.local()


def _connection() -> psycopg.Connection[Any]:
    """One autocommit connection per thread, kept: no pool's checkout in the figures."""
    conn = getattr(_local, "conn", None)
    if conn is None:
        conn = _local.conn = psycopg.connect(DATABASE_URL, autocommit=True)
    return conn


def _accept(payloads: list[Any]) -> list[str]:
    if request.headers.get("Authorization") != f"Bearer {os.environ['FRAMEWORKS_API_KEY']}":
        abort(401)
    ids = [f"msg_{uuid.uuid4().hex}" for _ in payloads]
    _connection().execute(STORE, (ids, [json.dumps(p) for p in payloads]))
    if publisher.publish(ids) != len(ids):
        abort(503)
    return ids


@app.post("/api/ingest/batch")
def send_batch() -> tuple[dict[str, Any], int]:
    items = (request.get_json() or {}).get("items") or []
    ids = _accept([item.get("payload") for item in items])
    return {"items": [{"deliveryId": i, "status": "accepted"} for i in ids]}, 202


@app.post("/api/ingest/<endpoint_id>")
def send(endpoint_id: str) -> tuple[dict[str, str], int]:
    [delivery_id] = _accept([(request.get_json() or {}).get("payload")])
    return {"deliveryId": delivery_id, "endpointId": endpoint_id, "status": "accepted"}, 202


@celery.task(name=DELIVER_TASK, acks_late=True)
def deliver(delivery_id: str) -> None:
    """Read the row, POST it signed on this thread's kept-alive session, mark it delivered.

    The cheapest way through `requests` that hookrelay's sender also takes: no lookup of
    proxies in the environment, and prepared without the session's merge of its defaults.
    """
    conn = _connection()
    row = conn.execute(READ, (delivery_id,)).fetchone()
    if row is None:
        return
    session = getattr(_local, "session", None)
    if session is None:
        session = _local.session = requests.Session()
        session.trust_env = False
    headers = signature_headers([SECRET], delivery_id, datetime.now(UTC), row[0])
    headers["Content-Type"] = "application/json"
    url = os.environ["FRAMEWORKS_URL"]
    prepared = requests.Request("POST", url, data=row[0], headers=headers).prepare()
    response = session.send(prepared, timeout=(5, 15), allow_redirects=False)
    response.raise_for_status()
    conn.execute(MARK, (delivery_id,))


@signals.setup_logging.connect
def _quiet(**_kwargs: Any) -> None:
    """Celery's "ready." line only (the harness waits for it), not a line per task."""
    logging.basicConfig(level=logging.INFO)
    for name in ("celery.worker.strategy", "celery.app.trace"):
        logging.getLogger(name).setLevel(logging.WARNING)


if __name__ == "__main__":
    with psycopg.connect(DATABASE_URL, autocommit=True) as conn:
        conn.execute(TABLE)
