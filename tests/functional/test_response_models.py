"""Every documented response is written by the model that documents it.

Each route is called once through the test client; its body must validate as the route's
OpenAPI response model and list its keys in the model's declared order, nested objects
included: a hand-built dict that drifted from the model would fail one or the other.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from pydantic import BaseModel, RootModel
from sqlalchemy import update

from app.api.spec import Operation
from app.models import Delivery
from app.runtime import Runtime
from app.services.workspaces import create_workspace
from tests.support.pages import migrated_app


class Caller:
    """Calls routes as one tenant, and holds each response to its documented model."""

    def __init__(self, app: Flask, rt: Runtime) -> None:
        self.app, self.client = app, app.test_client()
        with rt.sessions.begin() as session:
            created = create_workspace(session, "test", "us")
        self.workspace_id = created.workspace_id
        self.management = {"Authorization": f"Bearer {created.management_token}"}
        self.ingest = {"Authorization": f"Bearer {created.api_key}"}
        self.checked: set[tuple[str, str]] = set()

    def call(self, method: str, path: str, body: Any = None) -> Any:
        if path.startswith("/api/"):
            headers = self.ingest
        else:
            path = f"/management/v1/workspaces/{self.workspace_id}{path}"
            headers = self.management
        response = self.client.open(path, method=method, json=body, headers=headers)
        rule, _ = self.app.url_map.bind("localhost").match(path, method, return_rule=True)
        operation: Operation = self.app.view_functions[rule.endpoint].__openapi__
        assert response.status_code in (operation.status, *operation.also), response.get_json()
        data = response.get_json()
        if operation.response is not None:
            for each in data if operation.many else [data]:
                _written_by(operation.response.model_validate(each), each)
            self.checked.add((rule.rule, method))
        return data


def _written_by(model: BaseModel, data: Any) -> None:
    """Fail unless `data` lists the model's fields in declared order, at every level."""
    if isinstance(model, RootModel):
        return
    assert list(data) == [name for name in type(model).model_fields if name in data], data
    for name in data:
        value = getattr(model, name)
        if isinstance(value, BaseModel):
            _written_by(value, data[name])
        elif isinstance(value, list):
            for item, raw in zip(value, data[name], strict=True):
                if isinstance(item, BaseModel):
                    _written_by(item, raw)


@pytest.fixture
def site(tmp_path: Path) -> Iterator[tuple[Flask, Runtime]]:
    app, rt = migrated_app(tmp_path)
    yield app, rt
    rt.engine.dispose()


def test_every_documented_response_is_written_by_its_model(site: tuple[Flask, Runtime]) -> None:
    app, rt = site
    c = Caller(app, rt)
    url = "http://127.0.0.1:9/hook"

    endpoint = c.call("POST", "/endpoints", {"url": url, "metadata": {"team": "a"}})["id"]
    c.call("GET", "/endpoints")
    c.call("GET", f"/endpoints/{endpoint}")
    c.call("PATCH", f"/endpoints/{endpoint}", {"description": "orders", "rateLimit": 5})
    c.call("POST", f"/endpoints/{endpoint}/disable")
    c.call("POST", f"/endpoints/{endpoint}/enable")
    c.call("POST", f"/endpoints/{endpoint}/rotate-secret")
    event_type = c.call("POST", "/event-types", {"name": "order.paid"})["id"]
    c.call("GET", "/event-types")
    c.call("GET", f"/event-types/{event_type}")
    c.call("PATCH", f"/event-types/{event_type}", {"description": "paid"})
    c.call("POST", f"/endpoints/{endpoint}/subscriptions", {"eventTypeIds": [event_type]})
    c.call("GET", f"/endpoints/{endpoint}/subscriptions")

    sent = c.call("POST", f"/api/ingest/{endpoint}", {"payload": {"a": 1}})["deliveryId"]
    c.call("POST", "/api/ingest/batch", {"items": [{"endpointId": endpoint, "payload": {}}, {}]})
    c.call("POST", "/api/ingest/event/order.paid", {"payload": {"a": 1}})
    c.call(
        "POST", "/api/ingest/event/batch", {"items": [{"eventType": "order.paid", "payload": {}}]}
    )
    c.call("GET", f"/api/deliveries/{sent}?include=payload,attempts")
    c.call("GET", f"/endpoints/{endpoint}/deliveries")
    c.call("GET", f"/deliveries/{sent}?include=payload")
    c.call("GET", f"/deliveries/{sent}/attempts")
    with rt.sessions.begin() as session:
        session.execute(update(Delivery).where(Delivery.id == sent).values(status="failed"))
    c.call("POST", f"/deliveries/{sent}/retry")
    c.call("POST", f"/endpoints/{endpoint}/redrive", {"since": "2020-01-01T00:00:00Z"})

    environment = c.call("POST", "/environments", {"name": "Staging", "slug": "staging"})["id"]
    c.call("GET", "/environments")
    c.call("GET", f"/environments/{environment}")
    c.call("PATCH", f"/environments/{environment}", {"name": "Stage"})
    c.call("GET", f"/environments/{environment}/event-types")
    visibility = f"/environments/{environment}/event-types/{event_type}/visibility"
    c.call("PUT", visibility, {"published": True})

    application = c.call("POST", "/applications", {"name": "Acme", "maxEndpoints": 2})["id"]
    c.call("GET", "/applications")
    c.call("GET", f"/applications/{application}")
    c.call("PATCH", f"/applications/{application}", {"maxEndpoints": None})
    c.call("POST", f"/applications/{application}/endpoints", {"url": url})
    c.call("GET", f"/applications/{application}/endpoints")
    c.call("POST", f"/applications/{application}/portal", {})
    c.call("POST", "/batch", [[1, "GET", "/endpoints"]])

    assert c.checked == _documented_responses(app)


def _documented_responses(app: Flask) -> set[tuple[str, str]]:
    """Every route and method whose OpenAPI operation names a response model."""
    found = set()
    for rule in app.url_map.iter_rules():
        operation = getattr(app.view_functions[rule.endpoint], "__openapi__", None)
        if operation is not None and operation.response is not None:
            found |= {(rule.rule, m) for m in (rule.methods or set()) - {"HEAD", "OPTIONS"}}
    return found
