"""Thin HTTP layer: parse, call one service, commit, enqueue, respond."""

from __future__ import annotations

from flask import Flask


def register(app: Flask) -> None:
    from app.api import deliveries, errors, events, ingest, management, openapi, ops

    errors.register(app)
    app.register_blueprint(ingest.bp)
    app.register_blueprint(events.bp)
    app.register_blueprint(deliveries.bp)
    management.register_routes()
    app.register_blueprint(management.bp)
    app.register_blueprint(openapi.bp)
    app.register_blueprint(ops.bp)
    ops.count_requests(app)
