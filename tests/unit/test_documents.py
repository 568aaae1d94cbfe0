"""Request bodies as hookrelay accepts them: JSON that can be stored, signed and delivered."""

from __future__ import annotations

import pytest

from app.errors import APIError
from app.schemas.documents import MAX_DEPTH, loads


@pytest.mark.parametrize(
    ("raw", "says"),
    [
        (b'{"payload": {"a": NaN}}', "NaN"),
        (b'{"payload": {"a": Infinity}}', "Infinity"),
        (b'{"payload": {"a": -Infinity}}', "Infinity"),
        (b'{"payload": {"a": 1e999}}', "out of range"),
        (b'{"payload": {"a": "\\ud800"}}', "'payload.a': lone surrogate"),
        (b'{"payload": {"\\udc00": 1}}', "lone surrogate"),
        (b'{"payload": {"a": ["ok", "\\ud83d"]}}', "'payload.a.1'"),
        (b'{"payload": "\xed\xa0\x80"}', "UTF-8"),  # an encoded surrogate
        (b"[" * 10_000 + b"]" * 10_000, "nested deeper"),
        (b'{"payload": ' + b"[" * (MAX_DEPTH + 1) + b"]" * (MAX_DEPTH + 1) + b"}", "nested"),
    ],
)
def test_bodies_that_could_not_be_delivered_as_json_are_400(raw: bytes, says: str) -> None:
    with pytest.raises(APIError) as caught:
        loads(raw)
    assert caught.value.status == 400 and caught.value.code == "invalid_request"
    assert says in caught.value.message


@pytest.mark.parametrize(
    "raw",
    [
        b'{"payload": {"emoji": "\\ud83d\\ude00", "n": 1.5e300, "big": 99999999999999999999999}}',
        b'{"payload": ' + b"[" * (MAX_DEPTH - 1) + b"]" * (MAX_DEPTH - 1) + b"}",
        b'{"payload": {"many": [' + b",".join([b"[]"] * 500) + b"]}}",  # wide, not deep
        '{"payload": {"text": "caf\u00e9 \\\\ud800 is text"}}'.encode(),  # an escaped backslash
    ],
)
def test_valid_json_passes(raw: bytes) -> None:
    assert isinstance(loads(raw), dict)


def test_a_batch_body_leaves_lone_surrogates_to_its_operations() -> None:
    assert loads(b'[[1, "GET", "/endpoints/\\ud800"]]', whole=False) == [
        [1, "GET", "/endpoints/\ud800"]
    ]
