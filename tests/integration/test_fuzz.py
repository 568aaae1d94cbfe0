"""Fuzzing every documented route with schemathesis: no 5xx, responses as documented."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings

from tests.support.stack import Stack, Tenant, build

pytestmark = pytest.mark.integration
EXAMPLES_PER_ROUTE = 15


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
