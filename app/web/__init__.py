"""Server-rendered pages: the operator dashboard and the customer portal."""

from __future__ import annotations

from flask import Flask


def register(app: Flask) -> None:
    from app.web import csrf, dashboard, headers, portal

    csrf.register(app)
    headers.register(app)
    app.register_blueprint(dashboard.bp)
    app.register_blueprint(portal.bp)
