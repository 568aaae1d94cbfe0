"""The dashboard's delivery detail, search, retries, test events and workspace pages.

Through Flask's test client on a migrated SQLite database, with a second workspace whose
objects must all be a 404 from the first one's session.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select, update

from app.db import utcnow
from app.ids import hash_token, new_id
from app.models import (
    ApiKey,
    Application,
    Attempt,
    Delivery,
    Endpoint,
    Environment,
    EventType,
    EventTypeVisibility,
    ManagementToken,
)
from app.runtime import Runtime
from app.services import applications, environments, event_types
from app.services.auth import authenticate_api_key
from app.services.errors import Unauthorized
from app.services.fanout import EventItem, trigger
from app.services.ingest import IngestItem, ingest
from app.services.workspaces import Bootstrap, create_endpoint, create_workspace
from tests.support.pages import csrf, migrated_app

BIG = 5000  # characters of payload: past the page's preview


@dataclass
class Workspace:
    created: Bootstrap
    endpoint_id: str
    event_type_id: str
    application_id: str
    environment_id: str
    fanned_out: str  # a delivery of `order.paid`
    big: str  # a delivery too large to show whole
    key_id: str  # its first API key

    def actions(self) -> list[str]:
        """Every new form that acts on one of this workspace's objects."""
        return [
            f"/dashboard/deliveries/{self.big}/retry",
            f"/dashboard/endpoints/{self.endpoint_id}/test-event",
            f"/dashboard/applications/{self.application_id}/portal",
            f"/dashboard/credentials/key/{self.key_id}/revoke",
            f"/dashboard/environments/{self.environment_id}/event-types/{self.event_type_id}",
        ]


@dataclass
class Console:
    client: FlaskClient
    rt: Runtime
    mine: Workspace
    theirs: Workspace

    def get(self, path: str) -> str:
        response = self.client.get(path)
        assert response.status_code == 200, response.status_code
        return html.unescape(response.get_data(as_text=True))

    def post(self, path: str, page: str = "/dashboard/", **form: object) -> tuple[int, str]:
        """Post a form as the browser would (with the CSRF token of `page`), follow redirects."""
        data = {"csrf_token": csrf(self.client, page), **form}
        response = self.client.post(path, data=data, follow_redirects=True)
        return response.status_code, html.unescape(response.get_data(as_text=True))

    def delivery(self, delivery_id: str) -> Delivery:
        with self.rt.sessions() as db:
            found = db.get(Delivery, delivery_id)
            assert found is not None
            db.expunge(found)
            return found

    def set_status(self, delivery_id: str, status: str) -> None:
        with self.rt.sessions.begin() as db:
            db.execute(update(Delivery).where(Delivery.id == delivery_id).values(status=status))


def _workspace(rt: Runtime, name: str) -> Workspace:
    with rt.sessions.begin() as db:
        created = create_workspace(db, name, "us")
        ws = created.workspace_id
        application = applications.create_application(db, ws, name=f"{name} app")
        endpoint = create_endpoint(
            db,
            ws,
            "http://127.0.0.1:9/hook",
            allow_private=True,
            description=f"{name} orders",
            config={"headers": {"X-Api-Key": "custom-header-secret"}},
            application_id=application.id,
        )
        event_type = event_types.create_event_type(db, ws, "order.paid", "An order was paid")
        event_types.subscribe(db, ws, endpoint.id, [event_type.id])
        staging = environments.create_environment(db, ws, "Staging", "staging")
    with rt.sessions.begin() as db:
        key = authenticate_api_key(db, created.api_key)
        [fanned] = trigger(
            db.connection(),
            key,
            [EventItem(0, "order.paid", {"order": 42})],
            max_payload_bytes=10**6,
            now=utcnow(),
        )
        [big] = ingest(
            db.connection(),
            key,
            [IngestItem(0, endpoint.id, {"blob": "x" * BIG}, f"{name}-big")],
            max_payload_bytes=10**6,
            now=utcnow(),
        )
        db.add(
            Attempt(
                id=new_id("att"),
                delivery_id=fanned.delivery_ids[0],
                attempt_number=1,
                status="failed",
                response_status_code=503,
                response_body="receiver is down",
                created_at=utcnow(),
            )
        )
    return Workspace(
        created,
        endpoint.id,
        event_type.id,
        application.id,
        staging.id,
        fanned.delivery_ids[0],
        str(big.delivery_id),
        key.id,
    )


@pytest.fixture
def console(tmp_path: Path) -> Iterator[Console]:
    app, rt = migrated_app(tmp_path)
    mine, theirs = _workspace(rt, "mine"), _workspace(rt, "theirs")
    client = app.test_client()
    token = csrf(client, "/dashboard/login")
    signed = client.post(
        "/dashboard/login", data={"token": mine.created.management_token, "csrf_token": token}
    )
    assert signed.status_code == 302
    yield Console(client, rt, mine, theirs)
    rt.engine.dispose()


def test_delivery_page_shows_payload_event_type_headers_and_attempts(console: Console) -> None:
    delivery_id = console.mine.fanned_out
    page = console.get(f"/dashboard/deliveries/{delivery_id}")
    assert "<code>order.paid</code>" in page  # the event type it was fanned out for
    assert console.delivery(delivery_id).idempotency_key in page
    assert "mine orders" in page  # the endpoint's description
    assert '"order": 42' in page  # pretty-printed
    headers = dict(
        re.findall(r'<td class="mono" [^>]*>([^<]+)</td><td class="mono">([^<]*)</td>', page)
    )
    assert headers["Content-Type"] == "application/json"
    assert headers["webhook-id"] == delivery_id
    assert headers["webhook-timestamp"].isdigit()
    assert headers["webhook-signature"] == "v1,••••••"
    assert headers["X-Api-Key"] == "••••••"
    assert headers["User-Agent"].startswith("hookrelay/")
    assert "custom-header-secret" not in page and "whsec_" not in page
    assert "503" in page and "receiver is down" in page


def test_a_large_payload_is_truncated_with_a_link_to_all_of_it(console: Console) -> None:
    page = console.get(f"/dashboard/deliveries/{console.mine.big}")
    assert "x" * BIG not in page and 'id="full-payload"' in page
    whole = console.client.get(f"/dashboard/deliveries/{console.mine.big}/payload")
    assert whole.status_code == 200 and whole.mimetype == "text/plain"
    assert '"blob": "' + "x" * BIG + '"' in whole.get_data(as_text=True)


def test_retry_now_is_offered_in_every_state_but_delivering(console: Console) -> None:
    delivery_id = console.mine.fanned_out
    path = f"/dashboard/deliveries/{delivery_id}"
    for status in ("pending", "scheduled_retry", "failed", "dead_letter", "delivered"):
        console.set_status(delivery_id, status)
        assert 'id="retry"' in console.get(path), status
    console.set_status(delivery_id, "delivering")
    assert 'id="retry"' not in console.get(path)
    # A retry the service refuses is shown on the page, not as an error document.
    code, page = console.post(f"{path}/retry", page="/dashboard/deliveries")
    assert code == 200 and "delivery is delivering" in page and 'id="flash"' in page
    assert console.delivery(delivery_id).status == "delivering"

    console.set_status(delivery_id, "failed")
    code, page = console.post(f"{path}/retry", page="/dashboard/deliveries")
    assert code == 200 and "Retrying now." in page
    assert console.delivery(delivery_id).status == "scheduled_retry"


def test_search_by_id_key_endpoint_status_and_time(console: Console) -> None:
    mine = console.mine
    big_key = console.delivery(mine.big).idempotency_key
    assert mine.big in console.get(f"/dashboard/deliveries?q={big_key}")
    assert mine.fanned_out not in console.get(f"/dashboard/deliveries?q={big_key}")
    assert mine.big in console.get(f"/dashboard/deliveries?q={mine.big}")
    by_endpoint = console.get(f"/dashboard/deliveries?endpoint={mine.endpoint_id}")
    assert mine.big in by_endpoint and mine.fanned_out in by_endpoint
    assert mine.big not in console.get("/dashboard/deliveries?endpoint=ep_unknown")
    console.set_status(mine.big, "dead_letter")
    dead = console.get("/dashboard/deliveries?status=dead_letter")
    assert mine.big in dead and mine.fanned_out not in dead
    hour_ago = (utcnow() - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M")
    in_an_hour = (utcnow() + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M")
    assert mine.big in console.get(f"/dashboard/deliveries?since={hour_ago}&until={in_an_hour}")
    assert mine.big not in console.get(f"/dashboard/deliveries?since={in_an_hour}")
    assert mine.big not in console.get(f"/dashboard/deliveries?until={hour_ago}")
    assert console.theirs.big not in console.get("/dashboard/deliveries")
    bad = console.client.get("/dashboard/deliveries?since=yesterday")
    assert bad.status_code == 400 and "since" in bad.get_data(as_text=True)


def test_bulk_retry_retries_what_the_search_shows(console: Console) -> None:
    mine = console.mine
    console.set_status(mine.big, "dead_letter")
    console.set_status(mine.fanned_out, "delivering")
    code, page = console.post(
        "/dashboard/deliveries/retry", page="/dashboard/deliveries", endpoint=mine.endpoint_id
    )
    assert code == 200 and "Retrying 1 deliveries now; 1 could not be retried." in page
    assert console.delivery(mine.big).status == "scheduled_retry"
    assert console.delivery(mine.fanned_out).status == "delivering"

    console.set_status(mine.big, "failed")
    console.set_status(console.theirs.big, "failed")
    console.post("/dashboard/deliveries/retry", page="/dashboard/deliveries", status="failed")
    assert console.delivery(mine.big).status == "scheduled_retry"
    assert console.delivery(console.theirs.big).status == "failed"  # another workspace's


def test_send_test_event_stores_a_delivery_through_ingest(console: Console) -> None:
    path = f"/dashboard/endpoints/{console.mine.endpoint_id}"
    assert 'id="test-event"' in console.get(path)
    response = console.client.post(
        f"{path}/test-event", data={"csrf_token": csrf(console.client, path)}
    )
    assert response.status_code == 302
    delivery_id = response.headers["Location"].rsplit("/", 1)[-1]
    delivery = console.delivery(delivery_id)
    assert (delivery.endpoint_id, delivery.event_type) == (
        console.mine.endpoint_id,
        "hookrelay.test",
    )
    assert '"type":"hookrelay.test"' in delivery.payload and delivery.status == "pending"
    page = console.get(response.headers["Location"])
    assert "Test event sent." in page and "hookrelay.test" in page


def test_create_an_endpoint_and_see_its_description_in_the_list(console: Console) -> None:
    form = console.get("/dashboard/endpoints/new")
    assert console.mine.application_id in form
    code, page = console.post(
        "/dashboard/endpoints", url="http://127.0.0.1:9/billing", description="billing receiver"
    )
    assert code == 200 and "Endpoint created." in page
    code, page = console.post(
        "/dashboard/endpoints",
        url="http://127.0.0.1:9/acme",
        description="for the app",
        application=console.mine.application_id,
        environmentId=console.mine.environment_id,
    )
    with console.rt.sessions() as db:
        made = {e.description: e for e in db.scalars(select(Endpoint))}
    assert made["billing receiver"].application_id is None
    assert made["for the app"].application_id == console.mine.application_id
    assert made["for the app"].environment_id == console.mine.environment_id
    overview = console.get("/dashboard/")
    assert "billing receiver" in overview and "mine orders" in overview

    code, page = console.post("/dashboard/endpoints", url="ftp://nope", description="bad")
    assert code == 200 and 'id="flash"' in page and "url" in page
    code, page = console.post(
        "/dashboard/endpoints",
        url="http://127.0.0.1:9/x",
        application=console.theirs.application_id,
    )
    assert code == 404


def test_chart_has_a_time_axis_and_a_range_choice(console: Console) -> None:
    for choice, label, labels in (
        ("1h", "1 h", {6, 7}),
        ("24h", "24 h", {6, 7}),
        ("7d", "7 d", {7, 8}),
    ):
        page = console.get(f"/dashboard/?range={choice}")
        assert f"Delivery attempts, last {label}" in page
        axis = page.split('id="time-axis"', 1)[1].split("</div>", 1)[0]
        assert len(re.findall(r"<span", axis)) in labels, axis
    one_hour = console.get("/dashboard/?range=1h").split('id="time-axis"')[1].split("</div>")[0]
    assert re.findall(r">(\d\d:\d)0<", one_hour)  # labels on round ten minutes
    assert "last 24 h" in console.get("/dashboard/?range=forever")


def test_event_type_page_lists_its_subscribers(console: Console) -> None:
    listing = console.get("/dashboard/event-types")
    assert "order.paid" in listing and "An order was paid" in listing
    page = console.get(f"/dashboard/event-types/{console.mine.event_type_id}")
    assert console.mine.endpoint_id in page and "mine orders" in page
    code, page = console.post("/dashboard/event-types", name="invoice.sent", description="sent")
    assert code == 200 and "invoice.sent" in page and "No endpoint subscribes" in page
    code, page = console.post("/dashboard/event-types", name="invoice.sent")
    assert code == 200 and "already exists" in page


def test_application_page_lists_endpoints_and_opens_a_portal_link(console: Console) -> None:
    app_id = console.mine.application_id
    assert "mine app" in console.get("/dashboard/applications")
    path = f"/dashboard/applications/{app_id}"
    assert console.mine.endpoint_id in console.get(path)
    code, page = console.post(f"{path}/portal", page=path, role="viewer")
    assert code == 200
    link = re.search(r'href="(http://localhost/portal/?\?code=[^"]+)"', page)
    assert link, page
    portal = console.client.application.test_client()
    assert portal.get(link.group(1).removeprefix("http://localhost")).status_code == 302
    assert "view only" in portal.get("/portal/").get_data(as_text=True)
    code, page = console.post("/dashboard/applications", name="Globex", externalId="g-1")
    assert code == 200 and "Globex" in page and "g-1" in page


def test_environment_pages_create_and_publish(console: Console) -> None:
    assert "Staging" in console.get("/dashboard/environments")
    code, page = console.post("/dashboard/environments", name="Preview", slug="preview")
    assert code == 200 and "preview" in page
    path = f"/dashboard/environments/{console.mine.environment_id}"
    assert "order.paid" in console.get(path) and "hidden" in console.get(path)
    code, page = console.post(
        f"{path}/event-types/{console.mine.event_type_id}", page=path, published="true"
    )
    assert code == 200 and "published" in page
    with console.rt.sessions() as db:
        row = db.get(EventTypeVisibility, (console.mine.environment_id, console.mine.event_type_id))
        assert row is not None and row.published


def test_credentials_are_shown_once_and_revoked(console: Console) -> None:
    for kind, prefix, model in (("key", "nhk_us_", ApiKey), ("token", "nhm_", ManagementToken)):
        code, page = console.post(f"/dashboard/credentials/{kind}", page="/dashboard/credentials")
        issued = re.search(r'<pre id="issued-secret">([^<]+)</pre>', page)
        assert code == 200 and issued and issued.group(1).startswith(prefix)
        secret = issued.group(1)
        assert secret not in console.get("/dashboard/credentials")  # shown once
        with console.rt.sessions() as db:
            newest = db.scalar(select(model).filter_by(token_hash=hash_token(secret)))
            assert newest is not None and newest.workspace_id == console.mine.created.workspace_id
        code, page = console.post(
            f"/dashboard/credentials/{kind}/{newest.id}/revoke", page="/dashboard/credentials"
        )
        assert code == 200 and f"{newest.id} revoked" in page
        if kind == "key":
            with console.rt.sessions() as db, pytest.raises(Unauthorized):
                authenticate_api_key(db, secret)


def test_another_workspaces_objects_are_not_found(console: Console) -> None:
    theirs = console.theirs
    pages = [
        f"/dashboard/deliveries/{theirs.fanned_out}",
        f"/dashboard/deliveries/{theirs.big}/payload",
        f"/dashboard/event-types/{theirs.event_type_id}",
        f"/dashboard/applications/{theirs.application_id}",
        f"/dashboard/environments/{theirs.environment_id}",
    ]
    for path in pages:
        assert console.client.get(path).status_code == 404, path
        mine = path.replace(theirs.created.workspace_id, "")
        for name in ("fanned_out", "big", "event_type_id", "application_id", "environment_id"):
            mine = mine.replace(getattr(theirs, name), getattr(console.mine, name))
        assert console.client.get(mine).status_code == 200, mine  # the page exists
    console.set_status(theirs.big, "failed")
    actions = [
        *theirs.actions(),
        f"/dashboard/environments/{console.mine.environment_id}/event-types/{theirs.event_type_id}",
    ]
    for path in actions:
        code, _page = console.post(path, published="true")
        assert code == 404, path
    with console.rt.sessions() as db:
        assert db.get(ApiKey, theirs.key_id).revoked_at is None  # type: ignore[union-attr]
        assert db.scalar(select(Delivery.status).filter_by(id=theirs.big)) == "failed"
        their_deliveries = db.scalars(
            select(Delivery).filter_by(workspace_id=theirs.created.workspace_id)
        )
        assert len(list(their_deliveries)) == 2  # no test event was added
        assert db.scalar(select(EventTypeVisibility)) is None


NEW_FORMS = [
    "/dashboard/deliveries/retry",
    "/dashboard/endpoints",
    "/dashboard/event-types",
    "/dashboard/applications",
    "/dashboard/environments",
    "/dashboard/credentials/key",
    "/dashboard/credentials/token",
]


def test_every_new_form_needs_the_csrf_token(console: Console) -> None:
    mine = console.mine
    forms = [*NEW_FORMS, *mine.actions()]
    for path in forms:
        assert console.client.post(path, data={"name": "x"}).status_code == 400, path
    with console.rt.sessions() as db:
        assert db.get(ApiKey, mine.key_id).revoked_at is None  # type: ignore[union-attr]
        assert db.scalar(select(Application).filter_by(name="x")) is None
        assert db.scalar(select(EventType).filter_by(name="x")) is None
        assert db.scalar(select(Environment).filter_by(name="x")) is None
    token = csrf(console.client, "/dashboard/")
    for path in forms:  # the same forms, with the token: each one is handled
        answered = console.client.post(path, data={"name": "y", "csrf_token": token})
        assert answered.status_code in (200, 302), path


def test_new_pages_need_a_signed_in_session(console: Console) -> None:
    anonymous = console.client.application.test_client()
    for path in (
        "/dashboard/event-types",
        "/dashboard/applications",
        "/dashboard/environments",
        "/dashboard/credentials",
        "/dashboard/endpoints/new",
        f"/dashboard/deliveries/{console.mine.big}/payload",
    ):
        response = anonymous.get(path)
        assert response.status_code == 302 and "/dashboard/login" in response.headers["Location"]
