"""How the benchmark reads the CPU a phase cost: the counters must see small amounts of work."""

from __future__ import annotations

import psycopg
import pytest

from bench.phases import postgres_cpu_seconds
from tests.support.services import PG_ADMIN_URL, libpq_url, need

pytestmark = pytest.mark.integration


def test_postgres_cpu_counts_every_statement_however_cheap() -> None:
    """A cheap statement costs its backend well under one 10 ms clock tick; counted in ticks
    it would mostly add nothing, as a few hundred deliveries over a pool's backends did."""
    need("postgresql")
    with psycopg.connect(libpq_url(PG_ADMIN_URL), autocommit=True) as conn:
        conn.execute("SELECT 1")
        grew = []
        for _ in range(20):
            before = postgres_cpu_seconds()
            conn.execute("SELECT count(*) FROM generate_series(1, 1000)").fetchone()
            grew.append(postgres_cpu_seconds() - before)
    assert all(0 < cpu < 0.5 for cpu in grew), grew
