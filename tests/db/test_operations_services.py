"""Operator services against a real database: queue lag, stuck deliveries, purge, credentials."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session, sessionmaker

from app.db import utcnow
from app.ids import new_id
from app.models import ApiKey, Attempt, Delivery
from app.services import credentials, dashboard, operations
from app.services.auth import authenticate_api_key
from app.services.errors import NotFound, Unauthorized
from app.services.ingest import IngestItem, ingest
from app.services.workspaces import create_endpoint, create_workspace

LONG_AGO = datetime(2001, 1, 1, tzinfo=UTC)


def _deliveries(sessions: sessionmaker[Session], count: int) -> list[str]:
    with sessions.begin() as session:
        created = create_workspace(session, "t", "us")
        endpoint = create_endpoint(
            session, created.workspace_id, "http://127.0.0.1:9/", allow_private=True
        )
        key = session.scalars(select(ApiKey).filter_by(workspace_id=created.workspace_id)).one()
        items = [IngestItem(n, endpoint.id, {"n": n}) for n in range(count)]
        outcomes = ingest(session.connection(), key, items, max_payload_bytes=1000, now=utcnow())
        return [str(o.delivery_id) for o in outcomes]


def _set(sessions: sessionmaker[Session], ids: list[str], **values: object) -> None:
    with sessions.begin() as session:
        session.execute(update(Delivery).where(Delivery.id.in_(ids)).values(**values))


def test_queue_lag_and_stuck_see_an_overdue_delivery(sessions: sessionmaker[Session]) -> None:
    [overdue, fresh] = _deliveries(sessions, 2)
    _set(sessions, [overdue], next_attempt_at=LONG_AGO)
    try:
        with sessions() as session:
            assert operations.oldest_due(session, utcnow()) == LONG_AGO
            stuck = {d.id for d in operations.stuck_deliveries(session, utcnow(), 3600)}
        assert overdue in stuck and fresh not in stuck
    finally:  # the database is shared: leave no overdue delivery for the scheduler tests
        with sessions.begin() as session:
            session.execute(delete(Delivery).where(Delivery.id.in_([overdue, fresh])))


def test_purge_removes_old_finished_deliveries_in_batches(sessions: sessionmaker[Session]) -> None:
    ids = _deliveries(sessions, 4)
    old_done, old_waiting = ids[:3], ids[3]
    _set(sessions, old_done, status="dead_letter", created_at=LONG_AGO)
    _set(sessions, [old_waiting], created_at=LONG_AGO, next_attempt_at=utcnow() + timedelta(1))
    with sessions.begin() as session:
        session.add(
            Attempt(id=new_id("att"), delivery_id=old_done[0], attempt_number=1, status="failed")
        )

    removed = operations.purge(sessions, LONG_AGO + timedelta(days=1), batch=2)

    with sessions() as session:
        left = set(session.scalars(select(Delivery.id).where(Delivery.id.in_(ids))))
        attempts = session.scalars(select(Attempt).where(Attempt.delivery_id == old_done[0]))
        assert list(attempts) == []
    assert removed == 3
    assert left == {old_waiting}  # still waiting: kept whatever its age
    with sessions.begin() as session:
        session.execute(delete(Delivery).where(Delivery.id == old_waiting))


@pytest.mark.parametrize("kind", ["key", "token"])
def test_revoke_by_id_or_by_credential(sessions: sessionmaker[Session], kind: str) -> None:
    with sessions.begin() as session:
        workspace_id = create_workspace(session, "t", "us").workspace_id
        kept = {row.id for row in credentials.list_credentials(session, kind, workspace_id)}
        first = credentials.issue(session, kind, workspace_id, "us", None)
        second = credentials.issue(session, kind, workspace_id, "us", None)
    with sessions.begin() as session:
        rows = credentials.list_credentials(session, kind, workspace_id)
        [first_id] = [r.id for r in rows if r.id not in kept and first.startswith(r.prefix)]
        assert credentials.revoke(session, kind, first_id, utcnow()) == first_id
        second_id = credentials.revoke(session, kind, second, utcnow())
        credentials.revoke(session, kind, second, utcnow())  # twice is harmless
    with sessions() as session:
        revoked = {
            row.id
            for row in credentials.list_credentials(session, kind, workspace_id)
            if row.revoked_at is not None
        }
    assert revoked == {first_id, second_id}
    if kind == "key":
        with sessions() as session, pytest.raises(Unauthorized):
            authenticate_api_key(session, first)
    with sessions() as session, pytest.raises(NotFound):
        credentials.issue(session, kind, "ws_missing", "us", None)


def test_a_dashboard_search_with_a_nul_finds_nothing(sessions: sessionmaker[Session]) -> None:
    with sessions.begin() as session:
        workspace = create_workspace(session, "test", "us").workspace_id
        assert (
            dashboard.search_deliveries(
                session, workspace, dashboard.DeliveryFilter(query="a\x00b")
            )
            == []
        )
