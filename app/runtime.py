"""What one process holds: settings, the bound session factory, and a queue publisher."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from app import crypto
from app.config import Settings
from app.db import bind_session_factory, make_engine
from app.queue import Publisher, make_celery


@dataclass
class Runtime:
    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session] = field(repr=False)

    @classmethod
    def start(cls, settings: Settings) -> Runtime:
        crypto.configure(crypto.load_keys(settings))  # fail at start, not at the first secret
        engine = make_engine(settings.database_url, sqlite_busy_seconds=settings.ingest_timeout)
        return cls(settings, engine, bind_session_factory(engine))

    @cached_property
    def publisher(self) -> Publisher:
        # Created on first use, so CLI commands and health checks need no broker.
        return Publisher(make_celery(self.settings))
