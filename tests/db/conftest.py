"""A migrated database per backend (SQLite file, PostgreSQL database), built by Alembic."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from alembic.config import Config
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from alembic import command
from app.db import make_engine, session_factory
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
