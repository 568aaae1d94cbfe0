"""Database plumbing: the declarative base, engines and the unbound session factory."""

from __future__ import annotations

import select
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar

from sqlalchemy import (
    Boolean,
    ColumnElement,
    DateTime,
    Engine,
    MetaData,
    Select,
    Table,
    any_,
    create_engine,
    event,
    func,
    literal_column,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.visitors import InternalTraversal
from sqlalchemy.types import TypeDecorator

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    # Every model maps one table: typed as such, `Model.__table__.update()` and friends
    # type-check (SQLAlchemy declares the attribute as any selectable).
    __table__: ClassVar[Table]


class UTCDateTime(TypeDecorator[datetime]):
    """Timestamps that are always timezone-aware UTC, on SQLite too (which stores naive)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def utcnow() -> datetime:
    return datetime.now(UTC)


def iso(value: datetime | None) -> str | None:
    """The contract's form of a time: ISO-8601 UTC to the millisecond, `Z` for the zone."""
    if value is None:
        return None
    return value.isoformat(timespec="milliseconds").replace("+00:00", "Z")


class picked_by(ColumnElement[bool]):
    """`column` is one of the values `picked` selects, as a lookup of each picked value.

    On PostgreSQL `column = ANY(ARRAY(picked))`: the subquery runs once, first, and each
    value it picked is an index lookup. Written `IN (picked)` (or as a join with a CTE), the
    planner cannot know that a LIMIT given as a parameter picks a few rows, so it joins
    them with every row the subquery's conditions match: with 33,000 deliveries parked, a
    relay of 8 read all 33,000 (10 ms). Elsewhere (SQLite) plainly `column IN (picked)`.
    """

    inherit_cache = True
    type = Boolean()
    _is_implicitly_boolean = True  # a condition already: no `= 1` after it on SQLite
    _traverse_internals = [
        ("column", InternalTraversal.dp_clauseelement),
        ("picked", InternalTraversal.dp_clauseelement),
    ]

    def __init__(self, column: ColumnElement[Any], picked: Select[Any]) -> None:
        self.column = column
        self.picked = picked


@compiles(picked_by)
def _picked_by(element: picked_by, compiler: SQLCompiler, **kw: Any) -> str:
    return compiler.process(element.column.in_(element.picked), **kw)


@compiles(picked_by, "postgresql")
def _picked_by_postgresql(element: picked_by, compiler: SQLCompiler, **kw: Any) -> str:
    looked_up = element.column == any_(func.array(element.picked.scalar_subquery()))
    return compiler.process(looked_up, **kw)


def status_in(column: ColumnElement[str], statuses: Iterable[str]) -> ColumnElement[bool]:
    """`column` is one of `statuses`, the constants written into the statement, not bound.

    The partial indexes on deliveries name statuses in their predicates (in flight, due,
    leased, unparked). A prepared statement's generic plan can use such an index only when
    its own text says the same: with the status bound, PostgreSQL's generic plan of the
    in-flight count read every row of the endpoint through `ix_deliveries_endpoint_id_id`
    (docs/performance.md, round 14). Written as the predicates are (`=` for one status):
    SQLite matches `status IN ('delivering')` to no index on `status = 'delivering'`. The
    statuses are the domain's own words, never input.
    """
    constants: list[ColumnElement[str]] = [literal_column(f"'{status}'") for status in statuses]
    return column == constants[0] if len(constants) == 1 else column.in_(constants)


def _configure_sqlite(engine: Engine, busy_seconds: float) -> None:
    # WAL lets readers run beside the single writer; the busy timeout makes concurrent
    # writers (web, worker threads, scheduler) wait instead of failing, and BEGIN IMMEDIATE
    # takes the write lock up front so two transactions never deadlock upgrading a read lock.
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={int(busy_seconds * 1000)}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def make_engine(database_url: str, statement_timeout: float | None = None, **kwargs: Any) -> Engine:
    """Create an engine for DATABASE_URL with the per-dialect settings hookrelay relies on.

    `statement_timeout` (seconds) bounds every statement on PostgreSQL and the wait for
    SQLite's single write lock; the web process passes its ingest timeout so a stuck database
    yields a 504, not a hang. It is set once per connection, not per transaction.
    """
    if database_url.startswith("sqlite"):
        path = database_url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        busy_seconds = statement_timeout or 30.0
        engine = create_engine(
            database_url,
            connect_args={"check_same_thread": False, "timeout": busy_seconds},
            **kwargs,
        )
        _configure_sqlite(engine, busy_seconds)
        return engine
    if statement_timeout is not None:
        options = f"-c statement_timeout={int(statement_timeout * 1000)}"
        kwargs.setdefault("connect_args", {})["options"] = options
    kwargs.setdefault("pool_size", 10)
    kwargs.setdefault("max_overflow", 20)
    engine = create_engine(database_url, **kwargs)
    event.listen(engine, "checkout", _discard_if_closed_by_server)
    return engine


def _discard_if_closed_by_server(dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
    """Replace a pooled connection the server has closed, without a round trip.

    An idle connection has nothing to read unless the server went away (a restart sends
    its FATAL message and closes the socket), so a readable socket means a dead connection
    and the pool connects again. This stands in for `pool_pre_ping`, which cost a
    `SELECT 1` round trip on every checkout; a connection that dies while in use is still
    caught by SQLAlchemy's disconnect handling, which invalidates the whole pool.
    """
    poller = select.poll()
    poller.register(dbapi_connection.fileno(), select.POLLIN)
    if poller.poll(0):
        raise DisconnectionError("the server closed this pooled connection")


def session_factory(engine: Engine) -> sessionmaker[Session]:
    """Sessions of one process's engine; objects stay readable after commit (no reload)."""
    return sessionmaker(bind=engine, expire_on_commit=False)
