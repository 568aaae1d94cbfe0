"""The customer portal through Flask's test client: one-time codes, scope, edits, roles."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import select

from app.db import utcnow
from app.models import Endpoint, Subscription
from app.runtime import Runtime
from app.services import applications, environments, event_types
from app.services.workspaces import create_endpoint, create_workspace, default_environment
from tests.support.pages import csrf, migrated_app


@dataclass
class Portal:
    app: Flask
    rt: Runtime
    workspace_id: str
    application_id: str
    published: str
    hidden: str
    foreign_endpoint: str

    def code(self, role: str = "admin", ttl: timedelta = timedelta(minutes=5)) -> str:
        with self.rt.sessions.begin() as db:
            issued = applications.create_portal_session(
                db,
                self.workspace_id,
                self.application_id,
                role=role,
                metadata=None,
                ttl=ttl,
                now=utcnow(),
            )
        return issued.code


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Portal]:
    app, rt = migrated_app(tmp_path)
    with rt.sessions.begin() as db:
        ws = create_workspace(db, "t", "us").workspace_id
        mine = applications.create_application(db, ws, name="Acme")
        other = applications.create_application(db, ws, name="Other")
        foreign = create_endpoint(
            db, ws, "http://127.0.0.1:9/other", allow_private=True, application_id=other.id
        )
        published = event_types.create_event_type(db, ws, "order.paid", "An order was paid")
        hidden = event_types.create_event_type(db, ws, "internal.audit", None)
        env = default_environment(db, ws)
        environments.set_visibility(db, ws, env.id, published.id, True)
        ids = (ws, mine.id, published.id, hidden.id, foreign.id)
    yield Portal(app, rt, *ids)
    rt.engine.dispose()


def test_a_code_works_once_and_not_after_expiry(site: Portal) -> None:
    code = site.code()
    client = site.app.test_client()
    opened = client.get(f"/portal?code={code}")
    assert opened.status_code == 302 and "code=" not in opened.headers["Location"]
    assert "Acme" in client.get("/portal/").get_data(as_text=True)

    assert site.app.test_client().get(f"/portal?code={code}").status_code == 403  # reused
    expired = site.code(ttl=timedelta(seconds=-1))
    assert site.app.test_client().get(f"/portal?code={expired}").status_code == 403
    assert site.app.test_client().get("/portal/").status_code == 403  # no session at all


def test_add_edit_and_disable_an_endpoint_of_this_application_only(site: Portal) -> None:
    client = site.app.test_client()
    client.get(f"/portal?code={site.code()}")
    home = client.get("/portal/").get_data(as_text=True)
    assert "order.paid" in home and "internal.audit" not in home  # only published types

    form = {
        "csrf_token": csrf(client, "/portal/"),
        "url": "http://127.0.0.1:9/acme",
        "event_types": [site.published, site.hidden],
    }
    added = client.post("/portal/endpoints", data=form)
    assert added.status_code == 302
    endpoint_id = added.headers["Location"].rsplit("/", 1)[-1]
    page = f"/portal/endpoints/{endpoint_id}"
    edit = {"csrf_token": csrf(client, page), "url": "http://127.0.0.1:9/v2", "description": "v2"}
    assert client.post(page, data=edit).status_code == 302
    assert (
        client.post(f"{page}/disable", data={"csrf_token": edit["csrf_token"]}).status_code == 302
    )

    with site.rt.sessions() as db:
        endpoint = db.get(Endpoint, endpoint_id)
        assert endpoint is not None and endpoint.application_id == site.application_id
        assert (endpoint.url, endpoint.description, endpoint.is_active) == (
            "http://127.0.0.1:9/v2",
            "v2",
            False,
        )
        subscribed = db.scalars(
            select(Subscription.event_type_id).filter_by(endpoint_id=endpoint_id)
        )
        assert list(subscribed) == []  # the edit form sent no event type: unsubscribed
    assert client.get(f"/portal/endpoints/{site.foreign_endpoint}").status_code == 404

    bad = client.post("/portal/endpoints", data={**form, "url": "ftp://nope"})
    assert bad.status_code == 302
    assert "url" in client.get("/portal/").get_data(as_text=True)  # the refusal is shown


def test_a_viewer_cannot_change_anything(site: Portal) -> None:
    client = site.app.test_client()
    client.get(f"/portal?code={site.code(role='viewer')}")
    home = client.get("/portal/").get_data(as_text=True)
    assert "view only" in home and "add-endpoint" not in home
    with client.session_transaction("/portal/") as held:  # the page has no form to take it from
        held["csrf_token"] = "known"
    refused = client.post("/portal/endpoints", data={"csrf_token": "known", "url": "http://x.io"})
    assert refused.status_code == 302  # back to the page, with the refusal shown
    assert "may only view" in client.get("/portal/").get_data(as_text=True)
    with site.rt.sessions() as db:
        mine = db.scalars(select(Endpoint).filter_by(application_id=site.application_id))
        assert list(mine) == []


def test_portal_links_use_the_public_url_not_the_host_header(tmp_path: Path) -> None:
    app, rt = migrated_app(tmp_path, HOOKRELAY_PUBLIC_URL="https://hooks.example.com")
    with rt.sessions.begin() as db:
        created = create_workspace(db, "t", "us")
        application = applications.create_application(db, created.workspace_id, name="Acme")
    path = f"/management/v1/workspaces/{created.workspace_id}/applications/{application.id}/portal"
    response = app.test_client().post(
        path,
        json={},
        headers={"Authorization": f"Bearer {created.management_token}", "Host": "evil.example"},
    )
    rt.engine.dispose()
    assert response.status_code == 201, response.get_json()
    assert response.get_json()["url"].startswith("https://hooks.example.com/portal?code=")


def test_endpoint_page_shows_the_circuit_and_sets_the_cap_and_rate(site: Portal) -> None:
    client = site.app.test_client()
    client.get(f"/portal?code={site.code()}")
    form = {"csrf_token": csrf(client, "/portal/"), "url": "http://127.0.0.1:9/acme"}
    endpoint_id = client.post("/portal/endpoints", data=form).headers["Location"].rsplit("/")[-1]
    page = f"/portal/endpoints/{endpoint_id}"
    assert 'id="circuit">closed<' in client.get(page).get_data(as_text=True)

    edit = {**form, "maxInFlight": "3", "rateLimit": "10"}
    assert client.post(page, data=edit).status_code == 302
    with site.rt.sessions() as db:
        endpoint = db.get(Endpoint, endpoint_id)
        assert endpoint is not None and (endpoint.max_in_flight, endpoint.rate_limit) == (3, 10)
    assert 'name="maxInFlight" value="3"' in client.get(page).get_data(as_text=True)

    cleared = {**form, "maxInFlight": "", "rateLimit": ""}
    assert client.post(page, data=cleared).status_code == 302
    with site.rt.sessions() as db:
        endpoint = db.get(Endpoint, endpoint_id)
        assert endpoint is not None and (endpoint.max_in_flight, endpoint.rate_limit) == (
            None,
            None,
        )
