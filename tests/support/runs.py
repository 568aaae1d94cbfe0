"""Driving runs of deliveries and checking what at-least-once promises about them."""

from __future__ import annotations

import time
from collections import Counter

import requests

from tests.support.receiver import Receiver
from tests.support.stack import Stack, Tenant


def ingest_many(stack: Stack, tenant: Tenant, endpoint_id: str, count: int) -> list[str]:
    """Accept `count` deliveries through the batch API (20 per request); return their ids."""
    ids: list[str] = []
    while len(ids) < count:
        size = min(20, count - len(ids))
        response = requests.post(
            f"{stack.base_url}/api/ingest/batch",
            timeout=30,
            headers={"Authorization": f"Bearer {tenant.api_key}"},
            json={
                "items": [
                    {"endpointId": endpoint_id, "payload": {"n": len(ids) + i}} for i in range(size)
                ]
            },
        )
        assert response.status_code == 202, response.text
        ids += [item["deliveryId"] for item in response.json()["items"]]
    return ids


def wait_arrived(receiver: Receiver, name: str, ids: list[str], timeout: float = 60) -> set[str]:
    """Wait until every id reached the receiver at least once; return the ids seen."""
    deadline = time.monotonic() + timeout
    while True:
        seen = {r.headers["webhook-id"] for r in receiver.received(name)}
        if seen >= set(ids) or time.monotonic() > deadline:
            return seen


def assert_at_least_once(stack: Stack, receiver: Receiver, name: str, ids: list[str]) -> Counter:
    """Every accepted delivery arrived, nothing unknown arrived, and the database agrees.

    Returns how many times each id arrived (more than once is allowed: at-least-once).
    """
    seen = wait_arrived(receiver, name, ids)
    missing = set(ids) - seen
    assert not missing, f"{len(missing)} of {len(ids)} accepted deliveries never arrived"
    # A delivery cut off by a crash may already have arrived and still be waiting for its
    # lease to expire: count arrivals only once every delivery has reached its final state.
    final = {delivery_id: stack.wait_final(delivery_id, timeout=30) for delivery_id in ids}
    arrivals = Counter(r.headers["webhook-id"] for r in receiver.received(name))
    assert set(arrivals) == set(ids), "the receiver got a delivery nobody accepted"
    for delivery_id, delivery in final.items():
        assert delivery.status == "delivered", (delivery_id, delivery.status)
        # Every send is preceded by a claim that counts it, so the count can only be higher.
        assert delivery.attempts >= arrivals[delivery_id]
    return arrivals
