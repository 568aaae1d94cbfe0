"""What one process holds: settings, the bound session factory, a queue publisher, limits."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from functools import cached_property

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from app import crypto
from app.config import Settings
from app.db import make_engine, session_factory
from app.queue import Publisher, make_celery
from app.ratelimits import RateLimits
from app.services.auth import KnownKeys


@dataclass
class Runtime:
    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session] = field(repr=False)
    _rate_limits: RateLimits | None = field(default=None, init=False, repr=False)
    _limits_lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    @classmethod
    def start(cls, settings: Settings) -> Runtime:
        crypto.configure(crypto.load_keys(settings))  # fail at start, not at the first secret
        engine = make_engine(settings.database_url, statement_timeout=settings.ingest_timeout)
        return cls(settings, engine, session_factory(engine))

    @cached_property
    def intake_engine(self) -> Engine:
        """The ingest routes' engine: on PostgreSQL a pool of its own in autocommit, because
        their only write is one statement (`storing.store`), atomic alone. BEGIN and COMMIT
        would be two more round trips per request, and switching a shared pool's connection
        to autocommit at each checkout cost about as much. On SQLite, the engine itself."""
        if self.engine.dialect.name != "postgresql":
            return self.engine
        return make_engine(
            self.settings.database_url,
            statement_timeout=self.settings.ingest_timeout,
            isolation_level="AUTOCOMMIT",
        )

    @cached_property
    def known_keys(self) -> KnownKeys:
        """The API keys this process has authenticated, for the ingest routes. On SQLite none
        are kept: its write runs in a transaction that would have to read the key again
        (`storing.Shared.guard_key` is PostgreSQL's), so remembering would save nothing."""
        if self.engine.dialect.name != "postgresql":
            return KnownKeys(max_keys=0)
        return KnownKeys()

    @cached_property
    def publisher(self) -> Publisher:
        # Created on first use, so CLI commands and health checks need no broker.
        return Publisher(make_celery(self.settings))

    def prepare(self) -> None:
        """Build now what the first ingest request would: the publisher (Celery's app, no
        broker connection yet) and the intake engine. A web process calls this once it has
        loaded the app, before `heap.freeze`, so these live outside every full collection."""
        _ = self.publisher, self.intake_engine

    def rate_limits(self) -> RateLimits:
        """The process's limits, opened on first use (the CLI never needs the store).

        Locked rather than a cached_property, so the first requests of a process, arriving
        together, count in one in-process store instead of each in its own.
        """
        with self._limits_lock:
            if self._rate_limits is None:
                self._rate_limits = RateLimits(self.settings)
            return self._rate_limits
