"""hookrelay's Flask side. Importing this package does nothing; `create_app` builds the app."""

from __future__ import annotations

from typing import Any

from flask import Flask

from app.config import Settings


def create_app(settings: Settings | None = None, **overrides: Any) -> Flask:
    """Build the API and the pages for `settings` (default: from the environment)."""
    from app import cli, tracing, web
    from app.api import register
    from app.runtime import Runtime

    settings = settings or Settings.from_env()
    settings.web_public_url()  # fail at start, not at the first portal link
    flask_app = Flask(__name__, static_folder=None)  # pages carry their CSS inline
    flask_app.config.update(
        # Room for a full batch of maximum-size payloads plus the JSON around them.
        MAX_CONTENT_LENGTH=settings.max_payload_bytes * 20 + 64 * 1024,
        SECRET_KEY=settings.web_secret_key(),
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.secure_cookies,
        **overrides,
    )
    flask_app.json.sort_keys = False  # type: ignore[attr-defined]
    if settings.trusted_proxies:
        # The client's address (for sign-in limits) and scheme as the proxies in front saw them.
        from werkzeug.middleware.proxy_fix import ProxyFix

        hops = settings.trusted_proxies
        flask_app.wsgi_app = ProxyFix(flask_app.wsgi_app, x_for=hops, x_proto=hops)  # type: ignore[method-assign]
    runtime = flask_app.extensions["hookrelay"] = Runtime.start(settings)
    if tracing.setup("web"):
        tracing.instrument_web(flask_app, runtime.engine)
    register(flask_app)
    web.register(flask_app)
    cli.register(flask_app)
    return flask_app
