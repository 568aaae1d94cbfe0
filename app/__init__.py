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
    flask_app = Flask(__name__, static_folder=None)  # pages carry their CSS inline
    flask_app.config.update(
        # Room for a full batch of maximum-size payloads plus the JSON around them.
        MAX_CONTENT_LENGTH=settings.max_payload_bytes * 20 + 64 * 1024,
        SECRET_KEY=settings.web_secret_key(),
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        **overrides,
    )
    flask_app.json.sort_keys = False  # type: ignore[attr-defined]
    runtime = flask_app.extensions["hookrelay"] = Runtime.start(settings)
    if tracing.setup("web"):
        tracing.instrument_web(flask_app, runtime.engine)
    register(flask_app)
    web.register(flask_app)
    cli.register(flask_app)
    return flask_app
