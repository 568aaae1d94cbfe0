"""A single send from a key the process knows (`auth.KnownKeys`) skips the key query, yet a
revoked key or a deleted endpoint answers exactly as it would without it: a dead key's 401
comes before every other answer, a deleted endpoint is a 404, and nothing is stored."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session, sessionmaker

from app.db import utcnow
from app.models import ApiKey, Delivery, Endpoint


class Known:
    """A client whose key and endpoint the app has just authenticated with one send."""

    def __init__(self, app: Flask, tenant: tuple[ApiKey, str, str]) -> None:
        key, token, self.endpoint_id = tenant
        self.key_id, self.workspace_id = key.id, key.workspace_id
        self.client: FlaskClient = app.test_client()
        self.headers = {"Authorization": f"Bearer {token}"}
        assert self.send({"payload": {"n": 0}}).status_code == 202

    def send(self, body: Any) -> Any:
        path = f"/api/ingest/{self.endpoint_id}"
        return self.client.post(path, json=body, headers=self.headers)


def _stored(sessions: sessionmaker[Session], known: Known) -> int:
    with sessions() as session:
        count = select(func.count(Delivery.id)).filter_by(workspace_id=known.workspace_id)
        return int(session.scalar(count) or 0)


def _revoke(sessions: sessionmaker[Session], known: Known) -> None:
    with sessions.begin() as session:
        session.execute(update(ApiKey).filter_by(id=known.key_id).values(revoked_at=utcnow()))


@pytest.mark.parametrize(
    "body",
    [{"payload": {"n": 1}}, {"payload": "not an object"}, {"payload": {"x": "y" * 300_000}}],
    ids=["valid", "invalid", "too-large"],
)
def test_a_revoked_key_gets_its_401_at_once_whatever_the_body(
    app: Flask, tenant: tuple[ApiKey, str, str], sessions: sessionmaker[Session], body: Any
) -> None:
    known = Known(app, tenant)
    _revoke(sessions, known)

    response = known.send(body)
    assert response.status_code == 401, response.get_json()
    assert response.get_json()["error"]["code"] == "unauthorized"
    assert known.send({"payload": {"n": 2}}).status_code == 401  # and from then on
    assert _stored(sessions, known) == 1


def test_a_revoked_key_gets_its_401_before_its_empty_bucket_answers_429(
    make_app: Callable[..., Flask],
    tenant: tuple[ApiKey, str, str],
    sessions: sessionmaker[Session],
) -> None:
    known = Known(make_app(HOOKRELAY_INGEST_KEY_LIMIT="1/minute"), tenant)
    assert known.send({"payload": {"n": 1}}).status_code == 429
    _revoke(sessions, known)

    assert known.send({"payload": {"n": 2}}).status_code == 401


def test_a_deleted_endpoint_is_not_found_for_a_known_key(
    app: Flask, tenant: tuple[ApiKey, str, str], sessions: sessionmaker[Session]
) -> None:
    known = Known(app, tenant)
    with sessions.begin() as session:
        session.execute(delete(Endpoint).filter_by(id=known.endpoint_id))

    response = known.send({"payload": {"n": 1}})
    assert response.status_code == 404, response.get_json()
    assert _stored(sessions, known) == 0  # the endpoint took its deliveries with it
