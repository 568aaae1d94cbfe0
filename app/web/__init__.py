"""Server-rendered pages: the operator dashboard and the customer portal."""

from __future__ import annotations

from flask import Flask


def register(app: Flask) -> None:
    # The dashboard_* and portal_* modules add their routes to the two blueprints on import,
    # so they are imported before the blueprints are registered.
    from app.web import (
        csrf,
        dashboard,
        dashboard_catalog,  # noqa: F401
        dashboard_credentials,  # noqa: F401
        dashboard_deliveries,  # noqa: F401
        dashboard_endpoints,  # noqa: F401
        headers,
        portal,
        portal_actions,  # noqa: F401
        sessions,
    )

    app.session_interface = sessions.PageSessions()
    csrf.register(app)
    headers.register(app)
    app.register_blueprint(dashboard.bp)
    app.register_blueprint(portal.bp)
