"""The OpenAPI document: valid 3.1, generated from the validating schemas, every route in it."""

from __future__ import annotations

import os
import re
from pathlib import Path

from flask import Flask
from openapi_spec_validator import validate

from app import create_app
from app.config import Settings
from app.schemas.management import EndpointCreate

PAGES = ("/dashboard", "/portal")  # HTML pages for people, not part of the API


def _app(tmp_path: Path) -> Flask:
    # The encryption keyring is process-wide: keep the one every other test uses.
    env = {"HOOKRELAY_DATA_DIR": str(tmp_path)}
    env["HOOKRELAY_ENCRYPTION_KEYS"] = os.environ["HOOKRELAY_ENCRYPTION_KEYS"]
    return create_app(Settings.from_env(env))


def test_document_is_valid_and_covers_every_route(tmp_path: Path) -> None:
    app = _app(tmp_path)
    response = app.test_client().get("/openapi.json")
    document = response.get_json()

    assert response.status_code == 200
    validate(document)
    served = {
        (re.sub(r"<(?:[^:>]+:)?([^>]+)>", r"{\1}", rule.rule), method.lower())
        for rule in app.url_map.iter_rules()
        if not rule.rule.startswith(PAGES)
        for method in (rule.methods or set()) - {"HEAD", "OPTIONS"}
    }
    documented = {(path, method) for path, ops in document["paths"].items() for method in ops}
    assert served == documented
    assert ("/management/v1/workspaces/{workspace_id}/endpoints", "post") in served
    assert ("/api/ingest/event/{event_type}", "post") in served
    assert ("/management/v1/workspaces/{workspace_id}/batch", "post") in served


def test_request_schemas_are_the_validating_models(tmp_path: Path) -> None:
    document = _app(tmp_path).test_client().get("/openapi.json").get_json()
    operation = document["paths"]["/management/v1/workspaces/{workspace_id}/endpoints"]["post"]
    schema = operation["requestBody"]["content"]["application/json"]["schema"]
    expected = EndpointCreate.model_json_schema(ref_template="#/components/schemas/{model}")
    expected.pop("$defs")

    assert schema == {"$ref": "#/components/schemas/EndpointCreate"}
    assert document["components"]["schemas"]["EndpointCreate"] == expected
    assert expected["additionalProperties"] is False


def test_unknown_routes_and_methods_answer_json(tmp_path: Path) -> None:
    client = _app(tmp_path).test_client()
    missing = client.get("/management/v1/workspaces/ws_x/nothing-here")
    wrong = client.put("/management/v1/workspaces/ws_x/endpoints")

    assert missing.status_code == 404 and missing.get_json()["error"]["code"] == "not_found"
    assert wrong.status_code == 405
    assert wrong.get_json()["error"]["code"] == "method_not_allowed"
