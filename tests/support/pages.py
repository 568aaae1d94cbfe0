"""Helpers for page tests through Flask's test client: a migrated app, forms with CSRF."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from flask import Flask
from flask.testing import FlaskClient

from app import create_app
from app.config import Settings
from app.runtime import Runtime
from tests.db.conftest import migrate


def migrated_app(tmp_path: Path, **settings: str) -> tuple[Flask, Runtime]:
    """The whole web app on a fresh, migrated SQLite database under `tmp_path`.

    `settings` adds environment variables (`HOOKRELAY_PUBLIC_URL=...`).
    """
    env = {"HOOKRELAY_DATA_DIR": str(tmp_path), "HOOKRELAY_ALLOW_PRIVATE_DESTINATIONS": "true"}
    env.update(settings)
    # The encryption keyring is process-wide: keep the one every other test uses.
    env["HOOKRELAY_ENCRYPTION_KEYS"] = os.environ["HOOKRELAY_ENCRYPTION_KEYS"]
    app = create_app(Settings.from_env(env))
    rt: Runtime = app.extensions["hookrelay"]
    migrate(rt.engine)
    return app, rt


def csrf(client: FlaskClient, path: str, **request: Any) -> str:
    """The CSRF token of the form on the page at `path` (`request`: more `client.get` options)."""
    page = client.get(path, **request).get_data(as_text=True)
    found = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert found, page
    return found.group(1)
