"""Alembic owns the schema: the migrations build exactly what the models declare."""

from __future__ import annotations

import json
from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, text

from alembic import command
from app import crypto
from app.db import Base, make_engine
from tests.support.stack import ROOT


def test_the_migrations_form_one_line() -> None:
    # The release step runs `alembic upgrade head`, which refuses a history with two heads.
    script = ScriptDirectory.from_config(Config(str(ROOT / "alembic.ini")))
    assert len(script.get_heads()) == 1, script.get_heads()


def test_models_and_migrations_agree(engine: Engine) -> None:
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        diff = compare_metadata(context, Base.metadata)
    assert diff == []


def test_endpoint_secrets_are_stored_encrypted(engine: Engine) -> None:
    from sqlalchemy import text
    from sqlalchemy.orm import Session

    from app.services.workspaces import create_endpoint, create_workspace

    with Session(engine) as session, session.begin():
        created = create_workspace(session, "t", "us")
        endpoint = create_endpoint(
            session,
            created.workspace_id,
            "http://127.0.0.1:9/",
            allow_private=True,
            auth=("user", "hunter2"),
        )
        secret, endpoint_id = endpoint.secret, endpoint.id
    with engine.connect() as connection:
        stored = connection.execute(
            text("SELECT secret, auth_password FROM endpoints WHERE id = :id"), {"id": endpoint_id}
        ).one()
    assert stored.secret.startswith("fernet:") and secret not in stored.secret
    assert stored.auth_password.startswith("fernet:") and "hunter2" not in stored.auth_password


NOW = "2026-01-01 00:00:00"
TENANT = (
    f"INSERT INTO workspaces VALUES ('ws_1', 'w', '{NOW}')",
    f"INSERT INTO environments VALUES ('env_1', 'ws_1', 'P', 'p', 1, '{NOW}', '{NOW}')",
)


def old_database(tmp_path: Path, revision: str) -> tuple[Engine, Config]:
    """A SQLite database migrated up to `revision` only, holding workspace ws_1."""
    engine = make_engine(f"sqlite:///{tmp_path / 'old.db'}")
    config = Config(str(ROOT / "alembic.ini"))
    config.attributes.update(engine=engine, configure_logger=False)
    command.upgrade(config, revision)
    with engine.begin() as connection:
        for statement in TENANT:
            connection.execute(text(statement))
    return engine, config


def test_upgrade_encrypts_existing_secrets_and_keeps_child_rows(tmp_path: Path) -> None:
    """0003 rebuilds `endpoints` on SQLite: its deliveries must survive, its secrets encrypted."""
    engine, config = old_database(tmp_path, "0002")
    now = NOW
    with engine.begin() as connection:
        for statement in (
            "INSERT INTO endpoints (id, workspace_id, environment_id, url, type, config, metadata,"
            " secret, auth_password, is_active, created_at, updated_at) VALUES ('ep_1', 'ws_1',"
            f" 'env_1', 'http://x/', 'webhook', '{{}}', '{{}}', 'whsec_old', 'pw', 1, '{now}',"
            f" '{now}')",
            "INSERT INTO deliveries (id, workspace_id, environment_id, endpoint_id,"
            " idempotency_key, payload, status, attempts, created_at, updated_at) VALUES"
            f" ('del_1', 'ws_1', 'env_1', 'ep_1', 'k', '{{}}', 'pending', 0, '{now}', '{now}')",
        ):
            connection.execute(text(statement))

    command.upgrade(config, "head")

    with engine.connect() as connection:
        stored = connection.execute(text("SELECT secret, auth_password FROM endpoints")).one()
        deliveries = connection.execute(text("SELECT count(*) FROM deliveries")).scalar_one()
    assert crypto.decrypt(stored.secret) == "whsec_old"
    assert crypto.decrypt(stored.auth_password) == "pw"
    assert deliveries == 1
    engine.dispose()


def test_upgrade_moves_url_credentials_and_encrypts_header_values(tmp_path: Path) -> None:
    engine, config = old_database(tmp_path, "0003")
    now = NOW
    secret = crypto.encrypt("whsec_old")
    rows = [
        ("ep_1", "https://us%40r:p%3Aw@x.io:8443/h?a=1", "NULL", '{"headers": {"X-Key": "k1"}}'),
        ("ep_2", "https://url:ignored@y.io/", "'own'", '{"timeout": 5}'),
    ]
    with engine.begin() as connection:
        for endpoint_id, url, username, settings in rows:
            connection.execute(
                text(
                    "INSERT INTO endpoints (id, workspace_id, environment_id, url, type, config,"
                    " metadata, secret, auth_username, is_active, created_at, updated_at) VALUES"
                    f" (:id, 'ws_1', 'env_1', :url, 'webhook', :config, '{{}}', :secret,"
                    f" {username}, 1, '{now}', '{now}')"
                ),
                {"id": endpoint_id, "url": url, "config": settings, "secret": secret},
            )

    command.upgrade(config, "head")

    with engine.connect() as connection:
        moved, kept = connection.execute(
            text("SELECT url, config, auth_username, auth_password FROM endpoints ORDER BY id")
        ).all()
    engine.dispose()
    assert moved.url == "https://x.io:8443/h?a=1"
    assert (moved.auth_username, crypto.decrypt(moved.auth_password)) == ("us@r", "p:w")
    # (not `"k1" not in moved.config`: the ciphertext's base64 may contain those two letters)
    assert json.loads(moved.config)["headers"]["X-Key"].startswith(crypto.PREFIX)
    assert crypto.map_header_values(json.loads(moved.config), crypto.decrypt) == {
        "headers": {"X-Key": "k1"}
    }
    assert (kept.url, kept.auth_username, kept.auth_password) == ("https://y.io/", "own", None)
    assert json.loads(kept.config) == {"timeout": 5}
