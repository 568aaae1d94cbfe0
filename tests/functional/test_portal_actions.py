"""The portal's test event and retry: the application's own endpoints and deliveries only."""

from __future__ import annotations

import html
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select, update

from app.db import utcnow
from app.models import Delivery
from app.runtime import Runtime
from app.services import applications
from app.services.auth import authenticate_api_key
from app.services.ingest import IngestItem, ingest
from app.services.workspaces import create_endpoint, create_workspace
from tests.support.pages import csrf, migrated_app


@dataclass
class Site:
    app: Flask
    rt: Runtime
    workspace_id: str
    application_id: str
    endpoint_id: str
    delivery_id: str
    foreign_endpoint: str
    foreign_delivery: str

    def client(self, role: str) -> FlaskClient:
        with self.rt.sessions.begin() as db:
            code = applications.create_portal_session(
                db,
                self.workspace_id,
                self.application_id,
                role=role,
                metadata=None,
                ttl=timedelta(minutes=5),
                now=utcnow(),
            ).code
        client = self.app.test_client()
        assert client.get(f"/portal?code={code}").status_code == 302
        return client

    def status(self, delivery_id: str) -> str:
        with self.rt.sessions() as db:
            return str(db.scalar(select(Delivery.status).filter_by(id=delivery_id)))

    def fail(self, *delivery_ids: str) -> None:
        with self.rt.sessions.begin() as db:
            db.execute(
                update(Delivery).where(Delivery.id.in_(delivery_ids)).values(status="dead_letter")
            )

    def deliveries_to(self, endpoint_id: str) -> int:
        with self.rt.sessions() as db:
            count = db.scalar(select(func.count()).where(Delivery.endpoint_id == endpoint_id))
            return int(count or 0)


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Site]:
    app, rt = migrated_app(tmp_path)
    with rt.sessions.begin() as db:
        created = create_workspace(db, "t", "us")
        ws = created.workspace_id
        mine = applications.create_application(db, ws, name="Acme")
        other = applications.create_application(db, ws, name="Other")
        endpoints = [
            create_endpoint(db, ws, f"http://127.0.0.1:9/{n}", allow_private=True, application_id=a)
            for n, a in (("acme", mine.id), ("other", other.id))
        ]
    with rt.sessions.begin() as db:
        key = authenticate_api_key(db, created.api_key)
        items = [IngestItem(n, e.id, {"n": n}) for n, e in enumerate(endpoints)]
        outcomes = ingest(db.connection(), key, items, max_payload_bytes=1000, now=utcnow())
    ids = [str(o.delivery_id) for o in sorted(outcomes, key=lambda o: o.index)]
    yield Site(app, rt, ws, mine.id, endpoints[0].id, ids[0], endpoints[1].id, ids[1])
    rt.engine.dispose()


def _post(client: FlaskClient, path: str) -> tuple[int, str, str]:
    """Post with the page's CSRF token; the status, the redirect target and the next page."""
    response = client.post(path, data={"csrf_token": csrf(client, "/portal/")})
    target = response.headers.get("Location", "")
    page = html.unescape(client.get(target or "/portal/").get_data(as_text=True))
    return response.status_code, target, page


def test_send_a_test_event_to_an_own_endpoint(site: Site) -> None:
    client = site.client("admin")
    page = client.get(f"/portal/endpoints/{site.endpoint_id}").get_data(as_text=True)
    assert 'id="test-event"' in page
    code, target, page = _post(client, f"/portal/endpoints/{site.endpoint_id}/test-event")
    assert code == 302 and target.startswith("/portal/deliveries/del_")
    assert "Test event sent." in page
    with site.rt.sessions() as db:
        delivery = db.get(Delivery, target.rsplit("/", 1)[-1])
        assert delivery is not None and delivery.endpoint_id == site.endpoint_id
        assert delivery.event_type == "hookrelay.test"

    code, _target, page = _post(client, f"/portal/endpoints/{site.foreign_endpoint}/test-event")
    assert "Endpoint not found" in page
    assert site.deliveries_to(site.foreign_endpoint) == 1  # nothing sent to another's endpoint


def test_retry_an_own_delivery_now(site: Site) -> None:
    client = site.client("admin")
    site.fail(site.delivery_id, site.foreign_delivery)
    page = client.get(f"/portal/deliveries/{site.delivery_id}").get_data(as_text=True)
    assert 'id="retry"' in page
    code, _target, page = _post(client, f"/portal/deliveries/{site.delivery_id}/retry")
    assert code == 302 and "Retrying now." in page
    assert site.status(site.delivery_id) == "scheduled_retry"

    _post(client, f"/portal/deliveries/{site.foreign_delivery}/retry")
    assert site.status(site.foreign_delivery) == "dead_letter"
    forged = client.post(f"/portal/deliveries/{site.delivery_id}/retry")
    assert forged.status_code == 400  # no CSRF token


def test_a_viewer_can_neither_test_nor_retry(site: Site) -> None:
    client = site.client("viewer")
    site.fail(site.delivery_id)
    assert 'id="retry"' not in client.get(f"/portal/deliveries/{site.delivery_id}").get_data(
        as_text=True
    )
    endpoint_page = client.get(f"/portal/endpoints/{site.endpoint_id}").get_data(as_text=True)
    assert 'id="test-event"' not in endpoint_page
    with client.session_transaction("/portal/") as held:  # the pages have no form to take it from
        held["csrf_token"] = "known"
    for path in (
        f"/portal/endpoints/{site.endpoint_id}/test-event",
        f"/portal/deliveries/{site.delivery_id}/retry",
    ):
        refused = client.post(path, data={"csrf_token": "known"})
        assert refused.status_code == 302, path
    assert "may only view" in client.get("/portal/").get_data(as_text=True)
    assert site.status(site.delivery_id) == "dead_letter"
    assert site.deliveries_to(site.endpoint_id) == 1
