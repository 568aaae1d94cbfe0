"""`POST /management/v1/workspaces/{id}/batch` against the real processes, on every backend."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
import requests

from tests.support.receiver import Receiver
from tests.support.stack import Stack, Tenant

pytestmark = pytest.mark.integration


def _batch(stack: Stack, tenant: Tenant, body: Any, workspace: str = "") -> requests.Response:
    return requests.post(
        f"{stack.base_url}/management/v1/workspaces/{workspace or tenant.workspace_id}/batch",
        json=body,
        headers={"Authorization": f"Bearer {tenant.management_token}"},
        timeout=30,
    )


def _slots(response: requests.Response) -> dict[Any, tuple[int, Any]]:
    """The answer by sequence number, checking that each number appears exactly once."""
    assert response.status_code == 200, response.text
    answers = response.json()
    slots = {number: (status, body) for number, status, body in answers}
    assert len(slots) == len(answers)
    return slots


def test_the_seed_example_on_our_routes(stack: Stack, receiver: Receiver) -> None:
    tenant = stack.tenant()
    endpoint = stack.endpoint(tenant, receiver.url(uuid.uuid4().hex))
    ep = endpoint["id"]
    slots = _slots(
        _batch(
            stack,
            tenant,
            [
                [1, "GET", f"/endpoints/{ep}"],
                [2, "GET", f"/endpoints/{ep}/deliveries", {"limit": "30", "status": "delivered"}],
                [3, "POST", "/event-types", {"name": "order.paid", "description": "paid"}],
                [4, "PATCH", f"/endpoints/{ep}", {"description": "Alice"}, {"api_version": "v1"}],
                [5, "GET", "/non/existing/endpoint"],
            ],
        )
    )

    # Operations run concurrently (as the seed allows), so op 1 may already see op 4's edit.
    assert slots[1][0] == 200
    assert {k: v for k, v in slots[1][1].items() if k not in ("description", "updatedAt")} == {
        k: v for k, v in endpoint.items() if k not in ("description", "updatedAt")
    }
    assert slots[1][1]["description"] in (endpoint["description"], "Alice")
    assert slots[2] == (200, {"deliveries": [], "nextCursor": None})
    assert slots[3][0] == 201 and slots[3][1]["name"] == "order.paid"
    assert slots[4][0] == 200 and slots[4][1]["description"] == "Alice"
    assert slots[5] == (404, "Could not find route GET /non/existing/endpoint")


def test_the_seed_example_verbatim(stack: Stack) -> None:
    # TalkJS's own example, word for word: its routes are not ours (404 in their slots), but
    # every operation is well formed, its date-form api_version included.
    seed = """[
      [1, "GET", "/users/user_01"],
      [2, "GET", "/users/user_01/conversations", {"limit": "30", "unreadsOnly": "true", "lastMessageAfter": "17100697559480"}],
      [3, "POST", "/conversations/conv_01/messages", [{"text": "This is a system message", "type": "SystemMessage"}]],
      [4, "PUT", "/users/user_02", {"name": "Alice"}, {"api_version": "2021-01-01"}],
      [5, "GET", "/non/existing/endpoint"]
    ]"""  # noqa: E501
    tenant = stack.tenant()
    response = requests.post(
        f"{stack.base_url}/management/v1/workspaces/{tenant.workspace_id}/batch",
        data=seed,
        headers={"Authorization": f"Bearer {tenant.management_token}"},
        timeout=30,
    )
    slots = _slots(response)

    assert slots == {
        1: (404, "Could not find route GET /users/user_01"),
        2: (404, "Could not find route GET /users/user_01/conversations"),
        3: (404, "Could not find route POST /conversations/conv_01/messages"),
        4: (404, "Could not find route PUT /users/user_02"),
        5: (404, "Could not find route GET /non/existing/endpoint"),
    }


@pytest.mark.parametrize(
    ("version", "status"),
    [("2021-01-01", 200), ("v1", 200), ("2021-13-01", 400), ("21-01-01", 400), ("2999-01-01", 400)],
)
def test_api_version_is_v1_or_a_date_up_to_today(
    stack: Stack, receiver: Receiver, version: str, status: int
) -> None:
    tenant = stack.tenant()
    ep = stack.endpoint(tenant, receiver.url(uuid.uuid4().hex))["id"]
    op = [4, "PATCH", f"/endpoints/{ep}", {"description": "Alice"}, {"api_version": version}]
    [(answered, body)] = _slots(_batch(stack, tenant, [op])).values()

    assert answered == status
    if status == 400:
        assert body["error"]["code"] == "invalid_request" and version in body["error"]["message"]


def test_answers_match_sequence_numbers_whatever_the_order(stack: Stack) -> None:
    numbers = [0, -3, 7.5, 2**40, 9, 1]  # any numbers, not only 1..n
    names = [f"type.{n}" for n in range(len(numbers))]
    ops = [
        [n, "POST", "/event-types", {"name": name}] for n, name in zip(numbers, names, strict=True)
    ]
    ops.append([42, "POST", "/event-types", {"name": "bad name"}])  # fails alone
    answers = []
    for order in (ops, ops[::-1]):
        tenant = stack.tenant()
        slots = _slots(_batch(stack, tenant, order))
        listed = _slots(_batch(stack, tenant, [[1, "GET", "/event-types"]]))[1][1]
        answers.append({n: (status, body.get("name")) for n, (status, body) in slots.items()})
        assert sorted(e["name"] for e in listed) == names

    expected = {n: (201, name) for n, name in zip(numbers, names, strict=True)}
    assert answers[0] == answers[1] == {**expected, 42: (400, None)}


def test_create_then_read_in_two_calls(stack: Stack, receiver: Receiver) -> None:
    tenant = stack.tenant()
    url = receiver.url(uuid.uuid4().hex)
    created = _slots(_batch(stack, tenant, [[1, "POST", "/endpoints", {"url": url}]]))[1]
    ep = created[1]["id"]
    read = _slots(_batch(stack, tenant, [[1, "GET", f"/endpoints/{ep}"], [2, "GET", "/endpoints"]]))

    assert created[0] == 201
    assert read[1] == (200, created[1])
    assert [e["id"] for e in read[2][1]] == [ep]


def test_per_operation_errors_are_those_of_the_routes(stack: Stack, receiver: Receiver) -> None:
    tenant, other = stack.tenant(), stack.tenant()
    theirs = stack.endpoint(other, receiver.url(uuid.uuid4().hex))["id"]
    slots = _slots(
        _batch(
            stack,
            tenant,
            [
                [1, "GET", f"/endpoints/{theirs}"],  # another workspace's endpoint
                [2, "DELETE", f"/endpoints/{theirs}"],
                [3, "POST", "/endpoints", {"url": "https://example.com/x", "colour": "red"}],
                [4, "GET", "/endpoints", None, {"api_version": "2021-02-30"}],
                [5, "POST", "/batch", []],
                [6, "GET", "/endpoints", {"limit": 5}],
                [7, "PUT", "/endpoints"],
                [8, "POST", "/event-types"],  # no payload: the route's own 400
            ],
        )
    )

    assert slots[1][0] == slots[2][0] == 404
    assert slots[1][1]["error"]["code"] == "not_found"
    assert slots[3][0] == 400 and "colour" in slots[3][1]["error"]["message"]
    assert slots[4][0] == 400 and "api_version" in slots[4][1]["error"]["message"]
    assert slots[5][0] == 400 and "/batch" in slots[5][1]["error"]["message"]
    assert slots[6][0] == 400 and slots[6][1]["error"]["code"] == "invalid_request"
    assert slots[7][0] == 405 and slots[7][1]["error"]["code"] == "method_not_allowed"
    assert slots[8][0] == 400 and slots[8][1]["error"]["code"] == "invalid_request"
    still = _slots(_batch(stack, other, [[1, "GET", f"/endpoints/{theirs}"]]))
    assert still[1][0] == 200  # the DELETE of the other workspace touched nothing


def test_another_workspace_or_no_token_fails_the_whole_request(stack: Stack) -> None:
    tenant, other = stack.tenant(), stack.tenant()
    ops = [[1, "GET", "/endpoints"]]
    theirs = _batch(stack, tenant, ops, workspace=other.workspace_id)
    anonymous = requests.post(
        f"{stack.base_url}/management/v1/workspaces/{tenant.workspace_id}/batch",
        json=ops,
        timeout=10,
    )

    assert theirs.status_code == 404 and theirs.json()["error"]["code"] == "not_found"
    assert anonymous.status_code == 401


@pytest.mark.parametrize(
    ("body", "named"),
    [
        ({"operations": []}, "JSON array"),
        ("GET /endpoints", "JSON array"),
        ([[n, "GET", "/endpoints"] for n in range(11)], "at most 10"),
        ([[1, "GET", "/endpoints"], [1, "GET", "/event-types"]], "used twice"),
        ([[1, "GET", "/endpoints"], [1.0, "GET", "/event-types"]], "used twice"),
        (["GET /endpoints"], "operation 0"),
        ([[1, "GET"]], "operation 0"),
        ([[1]], "operation 0"),
        ([[1, "GET", "/endpoints"], [2, "GET", "/endpoints", {}, {}, "extra"]], "operation 1"),
        ([["1", "GET", "/endpoints"]], "numeric sequence number"),
        ([[True, "GET", "/endpoints"]], "numeric sequence number"),
        ([[None, "GET", "/endpoints"]], "numeric sequence number"),
        ([[1, "FETCH", "/endpoints"]], "method among"),
        ([[1, "get", "/endpoints"]], "method among"),
        ([[1, "GET", 5]], "string path"),
        ([[1, "GET", "/endpoints", None, "v1"]], "options"),
        ([[1, "GET", "/endpoints", None, {"version": "v1"}]], "options"),
    ],
)
def test_a_malformed_batch_is_one_400(stack: Stack, body: Any, named: str) -> None:
    response = _batch(stack, stack.tenant(), body)

    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid_request" and named in error["message"], error


def test_an_empty_batch_answers_an_empty_array(stack: Stack) -> None:
    assert _slots(_batch(stack, stack.tenant(), [])) == {}
