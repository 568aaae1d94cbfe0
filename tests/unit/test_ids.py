"""Identifiers and credentials."""

from __future__ import annotations

import re
import time

from app.ids import hash_token, new_api_key, new_id, new_management_token, token_matches


def test_ids_are_prefixed_and_time_ordered() -> None:
    first = new_id("del")
    time.sleep(0.002)
    second = new_id("del")
    assert re.fullmatch(r"del_[0-9a-z]{25}", first)
    assert first < second


def test_tokens_have_the_contract_shapes_and_hash_compare() -> None:
    key = new_api_key("eu")
    assert re.fullmatch(r"nhk_eu_[A-Za-z0-9_-]{40,}", key)
    assert new_management_token().startswith("nhm_")
    assert token_matches(key, hash_token(key))
    assert not token_matches(key + "x", hash_token(key))
    assert key not in hash_token(key)
