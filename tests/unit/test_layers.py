"""Services speak the business's language: no HTTP errors, no wire schemas, no web framework.

The API and the pages translate at their edge (app/errors.py maps a service's refusal to the
contract's JSON error), so a service can be called the same way from a route, a page, the
command line or a worker.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from app.errors import APIError, as_api_error
from app.services import errors as refusals

SERVICES = Path(__file__).resolve().parents[2] / "app" / "services"
FOREIGN = ("app.errors", "app.schemas", "app.api", "app.web", "flask", "werkzeug")


def _imports(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    return names


def test_services_import_nothing_of_the_wire() -> None:
    found = {
        f"{path.name}: {name}"
        for path in sorted(SERVICES.glob("*.py"))
        for name in _imports(path)
        if name.startswith(FOREIGN)
    }
    assert found == set()


@pytest.mark.parametrize(
    ("refusal", "status", "code", "message"),
    [
        (refusals.NotFound("Endpoint"), 404, "not_found", "Endpoint not found"),
        (refusals.Conflict("taken"), 409, "conflict", "taken"),
        (refusals.Invalid("url: refused"), 400, "invalid_request", "url: refused"),
        (refusals.Unauthorized("no"), 401, "unauthorized", "no"),
        (refusals.PayloadTooLarge("big"), 413, "payload_too_large", "big"),
        (refusals.Inconsistent("gone"), 500, "internal_error", "gone"),
        (refusals.ServiceError("anything else"), 500, "internal_error", "internal error"),
    ],
)
def test_each_refusal_reads_as_the_contracts_error(
    refusal: refusals.ServiceError, status: int, code: str, message: str
) -> None:
    error = as_api_error(refusal)
    assert (error.status, error.code, error.message) == (status, code, message)


def test_an_api_error_passes_as_it_is() -> None:
    error = APIError(429, "rate_limited", "slow down", {"Retry-After": "3"})
    assert as_api_error(error) is error
