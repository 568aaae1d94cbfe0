"""Pooled PostgreSQL connections that the server closed are replaced at checkout."""

from __future__ import annotations

import time

import psycopg
from sqlalchemy import text

from app.db import make_engine
from tests.support.services import PG_ADMIN_URL, libpq_url, need


def test_a_connection_the_server_closed_is_replaced_without_an_error() -> None:
    need("postgresql")
    engine = make_engine(PG_ADMIN_URL, pool_size=1, max_overflow=0)
    try:
        with engine.connect() as conn:
            first = conn.execute(text("SELECT pg_backend_pid()")).scalar_one()
        # What a server restart does to every pooled connection: the backend goes away
        # and the server closes the socket.
        with psycopg.connect(libpq_url(PG_ADMIN_URL), autocommit=True) as other:
            assert other.execute("SELECT pg_terminate_backend(%s)", (first,)).fetchone() == (True,)
        time.sleep(0.2)  # let the server's goodbye reach the pooled socket

        with engine.connect() as conn:  # the pool's only connection was the dead one
            second = conn.execute(text("SELECT pg_backend_pid()")).scalar_one()

        assert second != first
    finally:
        engine.dispose()
