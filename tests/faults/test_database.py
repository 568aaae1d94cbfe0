"""PostgreSQL stops during ingest: clear 503/504s, nothing half-written, recovery by itself."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable

import pytest
import requests
from sqlalchemy import select

from app.models import Delivery
from tests.support.private import PrivatePostgres
from tests.support.receiver import Receiver
from tests.support.runs import assert_at_least_once
from tests.support.stack import Stack

pytestmark = pytest.mark.integration


def test_database_outage_during_ingest(
    fresh_stack: Callable[..., Stack], private_postgres: PrivatePostgres, receiver: Receiver
) -> None:
    stack = fresh_stack("pg-redis", database_url=private_postgres.url).start()
    tenant = stack.tenant()
    name = uuid.uuid4().hex[:12]
    endpoint = stack.endpoint(tenant, receiver.url(name))
    responses: list[requests.Response | Exception] = []
    stop = threading.Event()

    def send() -> None:
        with requests.Session() as http:
            while not stop.is_set():
                try:
                    responses.append(
                        http.post(
                            f"{stack.base_url}/api/ingest/{endpoint['id']}",
                            timeout=10,
                            headers={"Authorization": f"Bearer {tenant.api_key}"},
                            json={"payload": {"at": time.time()}},
                        )
                    )
                except requests.RequestException as exc:
                    responses.append(exc)
                time.sleep(0.02)

    clients = [threading.Thread(target=send) for _ in range(3)]
    for client in clients:
        client.start()
    time.sleep(1.5)
    private_postgres.stop()
    time.sleep(3)
    private_postgres.start()
    before_recovery = len(responses)
    time.sleep(4)
    stop.set()
    for client in clients:
        client.join()

    assert all(isinstance(r, requests.Response) for r in responses), "a request got no answer"
    answered = [r for r in responses if isinstance(r, requests.Response)]
    by_status = {r.status_code for r in answered}
    assert by_status <= {202, 503, 504}, by_status
    refused = [r for r in answered if r.status_code != 202]
    assert refused, "no request saw the outage"
    for r in refused:
        assert r.json()["error"]["code"] in ("unavailable", "ingest_timeout")
    assert [r.status_code for r in answered[before_recovery + 10 :]] == [202] * len(
        answered[before_recovery + 10 :]
    ), "ingest did not recover by itself"

    accepted = [r.json()["deliveryId"] for r in answered if r.status_code == 202]
    with stack.sessions() as session:
        stored = set(
            session.scalars(select(Delivery.id).where(Delivery.endpoint_id == endpoint["id"]))
        )
    assert stored == set(accepted), "a stored delivery was not acknowledged, or the reverse"
    assert_at_least_once(stack, receiver, name, accepted)
    codes = sorted({r.status_code for r in refused})
    print(
        f"\npg outage: {len(accepted)} accepted, {len(refused)} refused {codes}, "
        f"{len(stored)} stored, all delivered"
    )
