"""Database errors caused by the request's values are the client's 400, never a 503."""

from __future__ import annotations

import os
from pathlib import Path

from sqlalchemy import create_engine, text

from app import create_app
from app.config import Settings
from tests.support.services import PG_ADMIN_URL, need


def test_a_value_the_database_refuses_is_a_400_not_a_retry_later(tmp_path: Path) -> None:
    need("postgresql")
    env = {"HOOKRELAY_DATA_DIR": str(tmp_path)}
    env["HOOKRELAY_ENCRYPTION_KEYS"] = os.environ["HOOKRELAY_ENCRYPTION_KEYS"]
    app = create_app(Settings.from_env(env))
    engine = create_engine(PG_ADMIN_URL)

    @app.get("/test-only/echo")
    def echo() -> str:
        # PostgreSQL text cannot hold NUL: psycopg raises DataError, a statement error.
        with engine.connect() as conn:
            return str(conn.scalar(text("SELECT CAST(:v AS text)"), {"v": "a\x00b"}))

    response = app.test_client().get("/test-only/echo")
    engine.dispose()
    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == "invalid_request"
    assert "Retry-After" not in response.headers
