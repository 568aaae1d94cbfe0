"""`GET /openapi.json`: an OpenAPI 3.1 document built from the URL map and the schemas."""

from __future__ import annotations

import re
from typing import Any, Literal

from flask import Blueprint, Flask, current_app
from pydantic import BaseModel

from app.api.spec import Operation, documented
from app.schemas.responses import ErrorOut

bp = Blueprint("openapi", __name__)
REF = "#/components/schemas/{model}"
PUBLIC = ("openapi.document", "ops.get_healthz", "ops.get_readyz", "ops.get_metrics")


@bp.get("/openapi.json")
@documented("This document")
def document() -> dict[str, Any]:
    return build_document(current_app)


def build_document(app: Flask) -> dict[str, Any]:
    """Every documented route of `app`; the test suite checks that none is undocumented."""
    schemas: dict[str, Any] = {}
    paths: dict[str, dict[str, Any]] = {}
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule):
        operation = getattr(app.view_functions[rule.endpoint], "__openapi__", None)
        if operation is None:
            continue
        path = re.sub(r"<(?:[^:>]+:)?([^>]+)>", r"{\1}", rule.rule)
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            paths.setdefault(path, {})[method.lower()] = _operation(
                rule.endpoint, sorted(rule.arguments), operation, schemas
            )
    return {
        "openapi": "3.1.0",
        "info": {"title": "hookrelay", "version": "1"},
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
        "security": [{"bearer": []}],
    }


def _ref(
    model: type[BaseModel], schemas: dict[str, Any], mode: Literal["validation", "serialization"]
) -> dict[str, str]:
    schema = model.model_json_schema(ref_template=REF, mode=mode)
    schemas.update(schema.pop("$defs", {}))
    schemas[model.__name__] = schema
    return {"$ref": REF.format(model=model.__name__)}


def _operation(
    endpoint: str, arguments: list[str], op: Operation, schemas: dict[str, Any]
) -> dict[str, Any]:
    constraints = op.path.model_json_schema()["properties"] if op.path is not None else {}
    params = [
        {
            "name": a,
            "in": "path",
            "required": True,
            "schema": constraints.get(a, {"type": "string"}),
        }
        for a in arguments
    ]
    if op.query is not None:
        query = op.query.model_json_schema(ref_template=REF)
        required = set(query.get("required", []))
        params += [
            {"name": name, "in": "query", "required": name in required, "schema": schema}
            for name, schema in query["properties"].items()
        ]
    result: dict[str, Any] = {
        "operationId": endpoint.replace(".", "_"),
        "summary": op.summary,
        "tags": [endpoint.split(".")[0]],
        "parameters": params,
        "responses": {str(status): _response(op, schemas) for status in (op.status, *op.also)},
    }
    result["responses"]["default"] = {
        "description": "An error",
        "content": {"application/json": {"schema": _ref(ErrorOut, schemas, "serialization")}},
    }
    if op.body is not None:
        result["requestBody"] = {
            "required": not op.body_optional,
            "content": {"application/json": {"schema": _ref(op.body, schemas, "validation")}},
        }
    if endpoint in PUBLIC:
        result["security"] = []
    return result


def _response(op: Operation, schemas: dict[str, Any]) -> dict[str, Any]:
    if op.response is None:
        return {"description": "No content" if op.status == 204 else "OK"}
    schema: dict[str, Any] = _ref(op.response, schemas, "serialization")
    if op.many:
        schema = {"type": "array", "items": schema}
    return {"description": op.summary, "content": {"application/json": {"schema": schema}}}
