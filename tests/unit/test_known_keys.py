"""What a web process remembers of the keys it authenticated (`KnownKeys`), and its bounds."""

from __future__ import annotations

from app.services.auth import Caller, KnownKeys


def _caller(n: int) -> Caller:
    return Caller(f"key_{n}", f"ws_{n}", f"env_{n}")


def test_a_key_is_known_only_with_every_endpoint_asked_for_and_only_for_its_token() -> None:
    known = KnownKeys()
    known.remember("nhk_a", _caller(1), {"ep_1", "ep_2"})

    assert known.get("nhk_a", ["ep_1"]) == _caller(1)
    assert known.get("nhk_a", ["ep_1", "ep_2"]) == _caller(1)
    assert known.get("nhk_a", ["ep_1", "ep_3"]) is None  # ep_3 was never found
    assert known.get("nhk_a", []) is None  # a batch looks its endpoints up itself
    assert known.get("nhk_b", ["ep_1"]) is None

    known.remember("nhk_a", _caller(1), {"ep_3"})  # found later: added, not replacing
    assert known.get("nhk_a", ["ep_1", "ep_3"]) == _caller(1)
    known.forget("nhk_a")
    assert known.get("nhk_a", ["ep_1"]) is None


def test_the_oldest_key_goes_first_and_a_key_with_too_many_endpoints_starts_over() -> None:
    known = KnownKeys(max_keys=2, max_endpoints=3)
    for n in range(3):
        known.remember(f"nhk_{n}", _caller(n), {"ep_1"})
    assert known.get("nhk_0", ["ep_1"]) is None
    assert known.get("nhk_2", ["ep_1"]) == _caller(2)

    known.remember("nhk_2", _caller(2), {"ep_2", "ep_3"})
    assert known.get("nhk_2", ["ep_1", "ep_2", "ep_3"]) == _caller(2)
    known.remember("nhk_2", _caller(2), {"ep_4"})  # a fourth: the set starts over
    assert known.get("nhk_2", ["ep_4"]) == _caller(2)
    assert known.get("nhk_2", ["ep_1"]) is None
