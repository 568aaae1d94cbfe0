"""Rate limits against the real web processes, with small limits so the tests stay quick."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import pytest
import requests

from tests.support.receiver import Receiver
from tests.support.services import REDIS_URL, need
from tests.support.stack import Stack, Tenant, build, free_port

pytestmark = pytest.mark.integration

# One web process: the in-process store of the embedded default is per process.
SMALL = {
    "WEB_CONCURRENCY": "1",
    "HOOKRELAY_BATCH_BURST": "3",
    "HOOKRELAY_BATCH_RATE": "0.25",
    "HOOKRELAY_BATCH_MAX_WAIT": "0",
    "HOOKRELAY_INGEST_KEY_LIMIT": "2 per 5 seconds",
    "HOOKRELAY_MANAGEMENT_LIMIT": "10/minute",
}


@pytest.fixture(scope="module")
def limited(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    running = build("sqlite", tmp_path_factory.mktemp("limited"), **SMALL)
    try:
        yield running.start(workers=1)
    finally:
        running.stop()


def _batch(base_url: str, tenant: Tenant) -> requests.Response:
    return requests.post(
        f"{base_url}/management/v1/workspaces/{tenant.workspace_id}/batch",
        json=[],
        headers={"Authorization": f"Bearer {tenant.management_token}"},
        timeout=30,
    )


def _retry_after(response: requests.Response) -> int:
    assert response.status_code == 429, response.text
    assert response.json()["error"]["code"] == "rate_limited"
    return int(response.headers["Retry-After"])


def test_batch_burst_then_429_until_the_token_comes(limited: Stack) -> None:
    tenant = limited.tenant()
    burst = [_batch(limited.base_url, tenant).status_code for _ in range(3)]
    refused = _batch(limited.base_url, tenant)
    other = _batch(limited.base_url, limited.tenant())  # each workspace has its own bucket
    wait = _retry_after(refused)
    time.sleep(wait)
    after = _batch(limited.base_url, tenant)

    assert burst == [200, 200, 200] and other.status_code == 200
    assert 1 <= wait <= 4  # one token every 4 s
    assert after.status_code == 200


def test_ingest_is_limited_per_api_key(limited: Stack, receiver: Receiver) -> None:
    tenant = limited.tenant()
    endpoint = limited.endpoint(tenant, receiver.url("limited"))

    def send() -> requests.Response:
        return requests.post(
            f"{limited.base_url}/api/ingest/{endpoint['id']}",
            json={"payload": {"n": 1}},
            headers={"Authorization": f"Bearer {tenant.api_key}"},
            timeout=10,
        )

    passed = [send().status_code for _ in range(2)]
    wait = _retry_after(send())
    time.sleep(wait)

    assert passed == [202, 202] and 1 <= wait <= 5
    assert send().status_code == 202


def test_management_calls_are_limited_per_token(limited: Stack) -> None:
    tenant = limited.tenant()
    url = f"{limited.base_url}/management/v1/workspaces/{tenant.workspace_id}/endpoints"
    headers = {"Authorization": f"Bearer {tenant.management_token}"}
    passed = [requests.get(url, headers=headers, timeout=10).status_code for _ in range(10)]
    refused = requests.get(url, headers=headers, timeout=10)
    other = limited.tenant()
    theirs = requests.get(
        url.replace(tenant.workspace_id, other.workspace_id),
        headers={"Authorization": f"Bearer {other.management_token}"},
        timeout=10,
    )

    assert passed == [200] * 10 and theirs.status_code == 200
    assert 1 <= _retry_after(refused) <= 60


def test_two_web_processes_share_one_bucket_through_redis(
    fresh_stack: Callable[..., Stack],
) -> None:
    need("postgresql", "redis")
    stack: Stack = fresh_stack(
        "pg-redis",
        HOOKRELAY_RATE_LIMIT_STORAGE=REDIS_URL,
        HOOKRELAY_BATCH_BURST="2",
        HOOKRELAY_BATCH_RATE="0.2",
        HOOKRELAY_BATCH_MAX_WAIT="10",
    ).start(workers=1)
    port = free_port()
    stack.run("web", name="web-2", PORT=str(port))
    stack.wait_web_ready(name="web-2", port=port)
    first, second = stack.base_url, f"http://127.0.0.1:{port}"
    tenant = stack.tenant()

    started = time.monotonic()
    answers = [_batch(url, tenant).status_code for url in (first, second, first)]
    elapsed = time.monotonic() - started

    # Each process with a bucket of its own would answer the third at once. Shared, the
    # bucket (2) is empty by then, so the third waits for the next token, which comes 5 s
    # after the first request took its token, however slowly the requests arrived.
    assert answers == [200, 200, 200]
    assert elapsed >= 4.9
