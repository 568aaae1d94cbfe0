"""The operator dashboard through Flask's test client, on a migrated SQLite database."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from flask.testing import FlaskClient
from sqlalchemy import update

from app.db import utcnow
from app.ids import new_id
from app.models import Attempt, Delivery, Endpoint
from app.runtime import Runtime
from app.services import credentials
from app.services.auth import authenticate_api_key
from app.services.ingest import IngestItem, ingest
from app.services.workspaces import create_endpoint, create_workspace
from tests.support.pages import csrf, migrated_app


@dataclass
class Site:
    client: FlaskClient
    token: str
    workspace_id: str
    endpoint_id: str
    delivery_id: str
    runtime: Runtime


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Site]:
    app, rt = migrated_app(tmp_path)
    with rt.sessions.begin() as db:
        created = create_workspace(db, "t", "us")
        endpoint = create_endpoint(
            db, created.workspace_id, "http://127.0.0.1:9/hook", allow_private=True
        )
    with rt.sessions.begin() as db:
        key = authenticate_api_key(db, created.api_key)
        [outcome] = ingest(
            db.connection(),
            key,
            [IngestItem(0, endpoint.id, {"a": 1}, "order-42")],
            max_payload_bytes=1000,
            now=utcnow(),
        )
        delivery_id = str(outcome.delivery_id)
        db.execute(update(Delivery).where(Delivery.id == delivery_id).values(status="dead_letter"))
        db.add(
            Attempt(
                id=new_id("att"),
                delivery_id=delivery_id,
                attempt_number=1,
                status="failed",
                response_status_code=500,
                response_body="upstream broke",
                created_at=utcnow(),
            )
        )
    yield Site(
        app.test_client(),
        created.management_token,
        created.workspace_id,
        endpoint.id,
        delivery_id,
        rt,
    )
    rt.engine.dispose()


def sign_in(site: Site) -> None:
    token = csrf(site.client, "/dashboard/login")
    response = site.client.post("/dashboard/login", data={"token": site.token, "csrf_token": token})
    assert response.status_code == 302


def test_pages_need_a_valid_token(site: Site) -> None:
    assert site.client.get("/dashboard/").headers["Location"].startswith("/dashboard/login")
    token = csrf(site.client, "/dashboard/login")
    wrong = site.client.post("/dashboard/login", data={"token": "nhm_nope", "csrf_token": token})
    assert wrong.status_code == 401
    forged = site.client.post("/dashboard/login", data={"token": site.token})
    assert forged.status_code == 400  # no CSRF token


def test_overview_lists_search_and_retry(site: Site) -> None:
    sign_in(site)
    overview = site.client.get("/dashboard/").get_data(as_text=True)
    assert site.endpoint_id in overview and "0.0 %" in overview and "<svg" in overview

    found = site.client.get("/dashboard/deliveries?q=order-42").get_data(as_text=True)
    assert site.delivery_id in found
    none = site.client.get("/dashboard/deliveries?status=delivered").get_data(as_text=True)
    assert site.delivery_id not in none

    page = f"/dashboard/deliveries/{site.delivery_id}"
    assert "upstream broke" in site.client.get(page).get_data(as_text=True)
    retried = site.client.post(f"{page}/retry", data={"csrf_token": csrf(site.client, page)})
    assert retried.status_code == 302
    with site.runtime.sessions() as db:
        assert db.get(Delivery, site.delivery_id).status == "scheduled_retry"  # type: ignore[union-attr]


def test_endpoint_actions_and_revocation_signs_out(site: Site) -> None:
    sign_in(site)
    page = f"/dashboard/endpoints/{site.endpoint_id}"
    before = site.client.get(page).get_data(as_text=True)
    for action in ("rotate", "disable"):
        response = site.client.post(
            f"{page}/{action}", data={"csrf_token": csrf(site.client, page)}
        )
        assert response.status_code == 302
    after = site.client.get(page).get_data(as_text=True)
    secret = re.compile(r"whsec_[A-Za-z0-9+/=]+")
    assert secret.search(before).group(0) != secret.search(after).group(0)  # type: ignore[union-attr]
    assert "disabled" in after and 'id="enable"' in after

    with site.runtime.sessions.begin() as db:
        credentials.revoke(db, "token", site.token, utcnow())
    assert site.client.get(page).status_code == 302  # back to the sign-in form


def test_endpoint_page_shows_the_circuit_and_sets_the_cap_and_rate(site: Site) -> None:
    sign_in(site)
    page = f"/dashboard/endpoints/{site.endpoint_id}"
    before = site.client.get(page).get_data(as_text=True)
    assert 'id="circuit">closed<' in before and "(server default)" in before

    token = csrf(site.client, page)
    saved = site.client.post(
        f"{page}/limits", data={"csrf_token": token, "maxInFlight": "4", "rateLimit": "2.5"}
    )
    bad = site.client.post(f"{page}/limits", data={"csrf_token": token, "maxInFlight": "0"})

    # A refused form goes back to its page with the reason shown there.
    assert saved.status_code == 302 and bad.status_code == 302
    assert 'id="flash"' in (shown := site.client.get(page).get_data(as_text=True))
    assert "maxInFlight" in shown.split('id="flash"', 1)[1].split("</div>", 1)[0]
    with site.runtime.sessions() as db:
        endpoint = db.get(Endpoint, site.endpoint_id)
        assert endpoint is not None
        assert (endpoint.max_in_flight, endpoint.rate_limit) == (4, 2.5)
    after = site.client.get(page).get_data(as_text=True)
    assert 'id="max-in-flight">4, 2.5 per second<' in after
