"""The dashboard's queries against a real database (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from app.ids import new_id
from app.models import ApiKey, Attempt, Delivery
from app.services import dashboard, event_types
from app.services.fanout import EventItem, trigger
from app.services.ingest import IngestItem, ingest
from app.services.test_events import send_test_event
from app.services.workspaces import create_endpoint, create_workspace

NOW = datetime(2026, 11, 27, 13, 7, 30, tzinfo=UTC)


def _tenant(sessions: sessionmaker[Session]) -> tuple[str, str, ApiKey]:
    """A workspace, one endpoint, and its API key row."""
    with sessions.begin() as session:
        ws = create_workspace(session, "t", "us").workspace_id
        endpoint = create_endpoint(session, ws, "http://127.0.0.1:9/a", allow_private=True)
        key = session.scalars(select(ApiKey).filter_by(workspace_id=ws)).one()
        session.expunge(key)
        return ws, endpoint.id, key


def test_attempts_fall_in_buckets_that_start_on_round_times(
    sessions: sessionmaker[Session],
) -> None:
    ws, endpoint_id, key = _tenant(sessions)
    with sessions.begin() as session:
        [stored] = ingest(
            session.connection(),
            key,
            [IngestItem(0, endpoint_id, {})],
            max_payload_bytes=100,
            now=NOW,
        )
        # At 13:07, 13:02, 12:59 and 12:27:
        outcomes = ((0, "succeeded"), (5, "failed"), (8, "succeeded"), (40, "failed"))
        for n, (minutes_ago, status) in enumerate(outcomes):
            session.add(
                Attempt(
                    id=new_id("att"),
                    delivery_id=str(stored.delivery_id),
                    attempt_number=n + 1,
                    status=status,
                    created_at=NOW - timedelta(minutes=minutes_ago),
                )
            )
    with sessions() as session:
        series = dashboard.attempts_over_time(
            session, ws, NOW - timedelta(hours=1), NOW, timedelta(minutes=15)
        )
    assert [(f"{start:%H:%M}", ok, failed) for start, ok, failed in series] == [
        ("12:00", 0, 0),
        ("12:15", 0, 1),
        ("12:30", 0, 0),
        ("12:45", 1, 0),
        ("13:00", 1, 1),
    ]


def test_event_types_are_kept_on_fanned_out_and_test_deliveries(
    sessions: sessionmaker[Session],
) -> None:
    ws, endpoint_id, key = _tenant(sessions)
    with sessions.begin() as session:
        paid = event_types.create_event_type(session, ws, "order.paid", None)
        event_types.subscribe(session, ws, endpoint_id, [paid.id])
    with sessions.begin() as session:
        [fanned] = trigger(
            session.connection(),
            key,
            [EventItem(0, "order.paid", {"a": 1})],
            max_payload_bytes=100,
            now=NOW,
        )
        [direct] = ingest(
            session.connection(),
            key,
            [IngestItem(0, endpoint_id, {"b": 2})],
            max_payload_bytes=100,
            now=NOW,
        )
        tested = send_test_event(session, ws, endpoint_id, max_payload_bytes=1000, now=NOW)
    with sessions() as session:
        kinds = {
            d.id: d.event_type for d in session.scalars(select(Delivery).filter_by(workspace_id=ws))
        }
    assert kinds == {
        fanned.delivery_ids[0]: "order.paid",
        direct.delivery_id: None,
        tested: "hookrelay.test",
    }
