"""The hot statements, run on PostgreSQL through psycopg's cursor directly.

A lone delivery costs a write at ingest (`fetch`), then a claim and a record: seven short
statements (`Statement`). Through SQLAlchemy's `Connection.execute`, each spent about as
much client CPU in SQLAlchemy (compiled-cache lookup, parameter and result set-up,
psycopg's `description` for the result metadata) as in psycopg and the round trip together
(docs/performance.md, round 15). A `Statement` keeps the Core statement as the one
definition: compiled by SQLAlchemy once per shape (the length of each expanding list), its
bind and result processors taken from SQLAlchemy's types, run in the caller's transaction
on the same DBAPI connection. On SQLite, and wherever something listens to the engine's
cursor events (a SQL tracer, a test's probe), it is plain `execute`, so that every
listener still sees every statement.
"""

from __future__ import annotations

from collections import namedtuple
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from sqlalchemy import BindParameter, Connection, Insert, Select, Update
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session
from sqlalchemy.sql.visitors import iterate

Params = Mapping[str, Any]
Processor = Callable[[Any], Any] | None


class _Shape:
    """The statement compiled for one length of each expanding list."""

    def __init__(self, statement: Any, dialect: Dialect, params: Params) -> None:
        # An INSERT without `.values()` names the columns it is given, as `execute` does.
        keys = list(params) if isinstance(statement, Insert) else None
        compiled = statement.compile(dialect=dialect, column_keys=keys)
        state = compiled.construct_expanded_state(dict(params), escape_names=False)
        self.sql: str = state.statement
        self.expansion = {name: list(names) for name, names in state.parameter_expansion.items()}
        given = set(params) | {n for names in self.expansion.values() for n in names}
        # The statement's own bound constants (statuses set, `attempts + 1`), processed once.
        self.constants = {
            name: _processed(state.processors.get(name), value)
            for name, value in state.parameters.items()
            if name not in given
        }
        self.processors: dict[str, Processor] = dict(state.processors)

    def bind(self, params: Params) -> dict[str, Any]:
        bound = dict(self.constants)
        processors = self.processors
        for name, value in params.items():
            expanded = self.expansion.get(name)
            if expanded is None:
                bound[name] = _processed(processors.get(name), value)
            else:
                for each, item in zip(expanded, value, strict=True):
                    bound[each] = _processed(processors.get(each), item)
        return bound


def _processed(processor: Processor, value: Any) -> Any:
    return value if processor is None else processor(value)


class Statement:
    """A Core statement that runs on psycopg's cursor when the connection is PostgreSQL's."""

    def __init__(self, statement: Select[Any] | Insert | Update) -> None:
        self.statement = statement
        # The lists bound to an `IN` (`bindparam(..., expanding=True)`): a shape per length.
        self._expanding = sorted(
            {b.key for b in iterate(statement) if isinstance(b, BindParameter) and b.expanding}
        )
        self._shapes: dict[tuple[int, ...], _Shape] = {}
        self._row: Any = None
        self._result: list[Processor] = []

    def rows(self, executor: Connection | Session, params: Params) -> list[Any]:
        """The rows, each a named tuple of the statement's columns, processed by their types."""
        conn = _connection(executor)
        if not _direct(conn):
            return list(conn.execute(self.statement, params))
        shape = self._shape(conn.dialect, params)
        with _cursor(conn, shape.sql) as cursor:
            cursor.execute(shape.sql, shape.bind(params))
            found = cursor.fetchall()
            if self._row is None:  # the columns' types as the server sent them, once
                self._describe(conn.dialect, [c.type_code for c in cursor.description or ()])
        make, processors = self._row._make, self._result
        return [
            make([v if p is None else p(v) for v, p in zip(row, processors, strict=True)])
            for row in found
        ]

    def run(self, executor: Connection | Session, params: Params | list[Params]) -> None:
        """Execute for one set of parameters, or once per set (no expanding lists then)."""
        conn = _connection(executor)
        if not _direct(conn):
            conn.execute(self.statement, params)
            return
        many = params if isinstance(params, list) else [params]
        shape = self._shape(conn.dialect, many[0])
        with _cursor(conn, shape.sql) as cursor:
            if len(many) == 1:
                cursor.execute(shape.sql, shape.bind(many[0]))
            else:
                cursor.executemany(shape.sql, [shape.bind(p) for p in many])

    def _shape(self, dialect: Dialect, params: Params) -> _Shape:
        lengths = tuple(len(params[name]) for name in self._expanding)
        shape = self._shapes.get(lengths)
        if shape is None:
            shape = self._shapes[lengths] = _Shape(self.statement, dialect, params)
        return shape

    def _describe(self, dialect: Dialect, type_codes: list[int]) -> None:
        columns = list(self.statement.exported_columns)
        self._result = [
            c.type.dialect_impl(dialect).result_processor(dialect, code)
            for c, code in zip(columns, type_codes, strict=True)
        ]
        # An unnamed column (`count(*)`) is read by position.
        self._row = namedtuple("Row", [str(c.key) for c in columns], rename=True)  # type: ignore[misc]


def fetch(executor: Connection | Session, sql: str, params: Params) -> list[tuple[Any, ...]]:
    """The rows of `sql`, already written in psycopg's parameter style (the ingest's write),
    as plain tuples; `exec_driver_sql` where the driver is not used directly."""
    conn = _connection(executor)
    if not _direct(conn):
        return [tuple(row) for row in conn.exec_driver_sql(sql, params)]
    with _cursor(conn, sql) as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()  # type: ignore[no-any-return]


def _connection(executor: Connection | Session) -> Connection:
    return executor.connection() if isinstance(executor, Session) else executor


@contextmanager
def _cursor(conn: Connection, sql: str) -> Iterator[Any]:
    """A cursor of the psycopg connection under `conn`, in `conn`'s transaction; a driver
    error comes out as SQLAlchemy's, and a lost connection is invalidated, as `execute` does."""
    dbapi = conn.connection.dbapi_connection
    assert dbapi is not None  # a checked-out connection always has one
    cursor = dbapi.cursor()
    try:
        yield cursor
    except conn.dialect.loaded_dbapi.Error as exc:
        lost = conn.dialect.is_disconnect(exc, dbapi, cursor)
        if lost:
            conn.invalidate(exc)
        raise DBAPIError.instance(
            sql,
            None,
            exc,
            conn.dialect.loaded_dbapi.Error,
            connection_invalidated=lost,
            dialect=conn.dialect,
        ) from exc
    finally:
        cursor.close()


def _direct(conn: Connection) -> bool:
    """PostgreSQL, and no listener of the engine's cursor events, which would expect to see
    every statement with SQLAlchemy's execution context (a tracer, a test's probe)."""
    dispatch = conn.dispatch
    return conn.dialect.name == "postgresql" and not (
        dispatch.before_cursor_execute or dispatch.after_cursor_execute
    )
