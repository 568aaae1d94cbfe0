"""Fuzzing every documented route with schemathesis: no 5xx, responses as documented; and
every route, with hostile input schemathesis does not generate, answers a precise 4xx."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings

from tests.support.services import need
from tests.support.stack import Stack, Tenant, build

pytestmark = pytest.mark.integration
EXAMPLES_PER_ROUTE = 15
WORKSPACE = "workspace_id"  # the path parameter, as the document names it
HOSTILE_EXAMPLES_PER_ROUTE = 3
# Classes of input the schema-driven generator does not produce.
HOSTILE_STRINGS = {"NUL": "nul\x00byte", "lone surrogate": "\ud800", "long": "x" * 100_000}
HUGE_INTEGER = 10**30
HOSTILE_BODIES = {
    "deep nesting": "[" * 10_000 + "]" * 10_000,
    "deep payload": '{"payload": ' + "[" * 10_000 + "]" * 10_000 + "}",
    "NaN": '{"payload": {"a": NaN}, "name": NaN}',
    "1e999": '{"payload": {"a": 1e999}, "maxEndpoints": 1e999}',
    "lone surrogate key": '{"payload": {"\\ud800": 1}, "\\udc00": "\\ud800"}',
    "NUL everywhere": '{"payload": {"a\\u0000": 1}, "name": "a\\u0000", "url": "\\u0000"}',
}
# Within gunicorn's 4094-byte request line, which answers longer ones itself.
MAX_URL_VALUE = 1000
HOSTILE_PATH_VALUES = ["x%00y", "%ED%A0%80", "9" * 30, "x" * MAX_URL_VALUE]


@pytest.fixture(scope="module")
def fuzz_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Stack, Tenant]]:
    running = build("sqlite", tmp_path_factory.mktemp("fuzz"))
    try:
        running.start(workers=1)
        yield running, running.tenant()
    finally:
        running.stop()


def test_documented_routes_hold_their_contract(fuzz_stack: tuple[Stack, Tenant]) -> None:
    stack, tenant = fuzz_stack
    document = requests.get(f"{stack.base_url}/openapi.json", timeout=10).json()
    schema = schemathesis.openapi.from_dict(document)
    failures: list[str] = []
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 10, "the document lists fewer routes than the API serves"

    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=EXAMPLES_PER_ROUTE,
            deadline=None,
            database=None,
            derandomize=True,
            suppress_health_check=list(HealthCheck),
        )
        def check(case: schemathesis.Case) -> None:
            # Aim inside the caller's own workspace, so requests reach the handlers and not
            # only the 404 of a workspace the token does not own.
            if case.path_parameters and "workspaceId" in case.path_parameters:
                case.path_parameters["workspaceId"] = tenant.workspace_id
            token = (
                tenant.management_token if case.path.startswith("/management") else (tenant.api_key)
            )
            case.call_and_validate(
                base_url=stack.base_url, headers={"Authorization": f"Bearer {token}"}
            )

        try:
            check()
        except (Exception, BaseExceptionGroup) as exc:  # collect every route's failure
            failures.append(f"{operation.label}: {exc}"[:2000])
    assert not failures, "\n\n".join(failures)


@pytest.fixture(scope="module")
def hostile_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Stack, Tenant]]:
    """PostgreSQL, whose text cannot hold NUL: where such input used to become a 503."""
    need("postgresql", "redis")
    running = build("pg-redis", tmp_path_factory.mktemp("hostile-fuzz"))
    try:
        running.start(workers=1)
        yield running, running.tenant()
    finally:
        running.stop()


def _poison(value: Any, hostile: Any) -> Any:
    """Every string (keys too) and integer of a generated value replaced by a hostile one."""
    if isinstance(value, dict):
        return {_poison(k, hostile): _poison(v, hostile) for k, v in value.items()}
    if isinstance(value, list):
        return [_poison(v, hostile) for v in value]
    if isinstance(value, str) and isinstance(hostile, str):
        return hostile
    if isinstance(value, int) and not isinstance(value, bool) and isinstance(hostile, int):
        return hostile
    return value


def _quote(value: Any) -> str:
    """Percent-encoded as given, lone surrogates included (a client library would refuse)."""
    return quote(str(value).encode("utf-8", "surrogatepass"), safe="")


def _url(stack: Stack, template: str, values: dict[str, str], query: dict[str, Any]) -> str:
    def fill(match: re.Match[str]) -> str:
        value = values[match.group(1)]
        return value if "%" in value else _quote(value)

    pairs = "&".join(f"{_quote(k)}={_quote(v)}" for k, v in query.items())
    return stack.base_url + re.sub(r"\{(\w+)\}", fill, template) + (f"?{pairs}" if pairs else "")


def _problems(response: requests.Response, label: str) -> list[str]:
    """What is wrong with an answer to hostile input: a 5xx, or an error not in the contract's
    shape; inside a 200 from /batch, the same for each operation's answer."""
    if response.status_code >= 500:
        return [f"{label}: {response.status_code} {response.text[:300]}"]
    is_batch = label.split()[1].endswith("/batch") and response.status_code == 200
    if response.status_code < 400 and not is_batch:
        return []
    try:
        body = response.json()
    except ValueError:
        return [f"{label}: {response.status_code} not JSON: {response.text[:200]!r}"]
    if response.status_code >= 400:
        error = (body or {}).get("error") if isinstance(body, dict) else None
        if not (isinstance(error, dict) and error.get("code") and error.get("message")):
            return [f"{label}: {response.status_code} without the error shape: {body!r:.300}"]
    if is_batch:
        return [
            f"{label} op {number}: {status} {answer!r:.300}"
            for number, status, answer in body
            if status >= 500 or (status >= 400 and not _batch_error(status, answer))
        ]
    return []


def _batch_error(status: int, answer: Any) -> bool:
    """A batch operation's error: the contract's shape, or the route-not-found string."""
    return (isinstance(answer, dict) and "error" in answer) or (
        status == 404 and isinstance(answer, str)
    )


def _send(
    stack: Stack,
    tenant: Tenant,
    method: str,
    template: str,
    values: dict[str, str],
    query: dict[str, Any] | None = None,
    **kw: Any,
) -> requests.Response:
    token = tenant.management_token if template.startswith("/management") else tenant.api_key
    values = {**values, WORKSPACE: values.get(WORKSPACE, tenant.workspace_id)}
    return requests.request(
        method,
        _url(stack, template, values, query or {}),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        timeout=30,
        **kw,
    )


def _operations(stack: Stack) -> list[Any]:
    """Every documented route: a route added to the app is in the document (test_openapi)."""
    document = requests.get(f"{stack.base_url}/openapi.json", timeout=10).json()
    schema = schemathesis.openapi.from_dict(document)
    return [result.ok() for result in schema.get_all_operations()]


def test_generated_input_made_hostile_is_a_precise_4xx(
    hostile_stack: tuple[Stack, Tenant],
) -> None:
    """schemathesis' cases with every string made NUL, a lone surrogate or huge, and every
    integer beyond 64 bits, in the body, the query and the path."""
    stack, tenant = hostile_stack
    failures: list[str] = []
    for operation in _operations(stack):

        @given(case=operation.as_strategy())
        @settings(
            max_examples=HOSTILE_EXAMPLES_PER_ROUTE,
            deadline=None,
            database=None,
            derandomize=True,
            suppress_health_check=list(HealthCheck),
        )
        def check(case: schemathesis.Case) -> None:
            for name, hostile in [*HOSTILE_STRINGS.items(), ("huge integer", HUGE_INTEGER)]:
                path = {
                    k: str(_poison(v, hostile))[:MAX_URL_VALUE]
                    for k, v in (case.path_parameters or {}).items()
                    if k != WORKSPACE
                }
                query = {
                    k: str(_poison(v, hostile))[:MAX_URL_VALUE]
                    for k, v in (case.query or {}).items()
                }
                has_body = not isinstance(case.body, schemathesis.core.NotSet)
                body = json.dumps(_poison(case.body, hostile)) if has_body else None
                response = _send(stack, tenant, case.method, case.path, path, query, data=body)
                failures.extend(_problems(response, f"{case.method} {case.path} [{name}]"))

        check()
    assert not failures, "\n".join(failures[:40])


def test_every_route_answers_hostile_bodies_and_paths_with_a_precise_4xx(
    hostile_stack: tuple[Stack, Tenant],
) -> None:
    stack, tenant = hostile_stack
    failures: list[str] = []
    for operation in _operations(stack):
        method, template = operation.method.upper(), operation.path
        params = re.findall(r"\{(\w+)\}", template)
        ordinary = {p: "x" for p in params if p != WORKSPACE}
        for name, raw in HOSTILE_BODIES.items():
            response = _send(
                stack, tenant, method, template, ordinary, data=raw.encode("utf-8", "surrogatepass")
            )
            failures.extend(_problems(response, f"{method} {template} [{name}]"))
        for param in params:
            for value in HOSTILE_PATH_VALUES:
                response = _send(stack, tenant, method, template, {**ordinary, param: value})
                failures.extend(_problems(response, f"{method} {template} [{param}={value[:12]}]"))
    assert not failures, "\n".join(failures[:40])
