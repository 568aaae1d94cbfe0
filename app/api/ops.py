"""Health checks and Prometheus metrics of the web process; no credentials needed."""

from __future__ import annotations

import logging
from typing import Any

from flask import Blueprint, Flask, Response, jsonify, request

from app import metrics
from app.api.context import runtime
from app.api.spec import documented
from app.db import utcnow
from app.services.operations import database_ready, oldest_due

bp = Blueprint("ops", __name__)
log = logging.getLogger(__name__)
COUNTED_PREFIXES = ("/api/",)


@bp.get("/healthz")
@documented("Liveness: the process answers")
def get_healthz() -> Response:
    """Liveness: the process answers; no dependency is checked."""
    return jsonify({"status": "ok"})


@bp.get("/readyz")
@documented("Readiness: the database and the broker are reachable (else 503)")
def get_readyz() -> tuple[Response, int]:
    """Readiness: the database and the broker are reachable."""
    rt = runtime()
    checks: dict[str, Any] = {}
    for name, check in (
        ("database", lambda: database_ready(rt.engine)),
        ("broker", rt.publisher.ping),
    ):
        try:
            check()
            checks[name] = "ok"
        except Exception as exc:  # any failure means not ready; the type is enough to act on
            log.warning(
                "readiness check failed", extra={"check": name, "error": type(exc).__name__}
            )
            checks[name] = f"unreachable ({type(exc).__name__})"
    ready = all(value == "ok" for value in checks.values())
    return jsonify({"status": "ok" if ready else "unavailable", "checks": checks}), (
        200 if ready else 503
    )


@bp.get("/metrics")
@documented("Prometheus metrics of the web processes (text format)")
def get_metrics() -> Response:
    """Prometheus text exposition, with the queue lag measured now."""
    rt = runtime()

    def oldest() -> Any:
        with rt.sessions() as session:
            return oldest_due(session, utcnow())

    body = metrics.exposition(metrics.QueueLagCollector(oldest, utcnow))
    return Response(body, content_type=metrics.CONTENT_TYPE_LATEST)


def count_requests(app: Flask) -> None:
    """Count ingest and results requests by route template (not raw path) and status."""

    @app.after_request
    def _count(response: Response) -> Response:
        if request.path.startswith(COUNTED_PREFIXES):
            route = request.url_rule.rule if request.url_rule else "unmatched"
            metrics.INGEST_REQUESTS.labels(route, str(response.status_code)).inc()
        return response
