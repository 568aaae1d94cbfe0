"""A migrated database per backend (SQLite file, PostgreSQL database), built by Alembic."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest
from alembic.config import Config
from flask import Flask
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

from alembic import command
from app import create_app
from app.config import Settings
from app.db import make_engine, session_factory
from app.models import ApiKey
from app.services.workspaces import create_endpoint, create_workspace
from tests.support.services import PG_ADMIN_URL, libpq_url, need
from tests.support.stack import ROOT


def migrate(engine: Engine) -> None:
    config = Config(str(ROOT / "alembic.ini"))
    config.attributes["engine"] = engine
    config.attributes["configure_logger"] = False
    command.upgrade(config, "head")


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def engine(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Engine]:
    if request.param == "sqlite":
        path = Path(tmp_path_factory.mktemp("db")) / "test.db"
        created = make_engine(f"sqlite:///{path}")
        migrate(created)
        yield created
        created.dispose()
        return
    need("postgresql")
    name = f"hookrelay_unit_{uuid.uuid4().hex[:10]}"
    admin = libpq_url(PG_ADMIN_URL)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    created = make_engine(PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}")
    migrate(created)
    yield created
    created.dispose()
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def sessions(engine: Engine) -> sessionmaker[Session]:
    return session_factory(engine)


@pytest.fixture
def make_app(engine: Engine, tmp_path: Path) -> Iterator[Callable[..., Flask]]:
    """Build hookrelay's web app on the test's database (and the embedded broker, in
    `tmp_path`), with more settings as keyword arguments."""
    made: list[Flask] = []

    def make(**env: str) -> Flask:
        env = {
            "DATABASE_URL": engine.url.render_as_string(hide_password=False),
            "HOOKRELAY_PUBLIC_URL": "http://127.0.0.1:9",
            "HOOKRELAY_SECRET_KEY": "test-only",
            "HOOKRELAY_DATA_DIR": str(tmp_path),
            "HOOKRELAY_ENCRYPTION_KEYS": os.environ["HOOKRELAY_ENCRYPTION_KEYS"],
            **env,
        }
        made.append(create_app(Settings.from_env(env)))
        return made[-1]

    yield make
    for app in made:
        runtime = app.extensions["hookrelay"]
        for pool in {runtime.engine, runtime.intake_engine}:
            pool.dispose()


@pytest.fixture
def app(make_app: Callable[..., Flask]) -> Flask:
    return make_app()


@pytest.fixture
def tenant(sessions: sessionmaker[Session]) -> tuple[ApiKey, str, str]:
    """An API key, its plaintext token and one endpoint of its environment."""
    with sessions.begin() as session:
        created = create_workspace(session, "t", "us")
        endpoint = create_endpoint(
            session, created.workspace_id, "http://127.0.0.1:9/hook", allow_private=True
        )
        key = session.scalars(select(ApiKey).filter_by(workspace_id=created.workspace_id)).one()
        return key, created.api_key, endpoint.id
