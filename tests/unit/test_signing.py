"""Signatures verify with the standardwebhooks package, including during a rotation."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from standardwebhooks import Webhook, WebhookVerificationError

from app.ids import new_endpoint_secret
from app.signing import signature_headers


def test_signature_verifies_with_standardwebhooks() -> None:
    secret = new_endpoint_secret()
    body = '{"a":1}'
    headers = signature_headers([secret], "del_1", datetime.now(UTC), body)
    assert Webhook(secret).verify(body, headers) == {"a": 1}
    assert headers["webhook-id"] == "del_1"


def test_two_secrets_both_verify_and_a_third_does_not() -> None:
    old, new = new_endpoint_secret(), new_endpoint_secret()
    headers = signature_headers([old, new], "del_2", datetime.now(UTC), "{}")
    assert len(headers["webhook-signature"].split(" ")) == 2
    Webhook(old).verify("{}", headers)
    Webhook(new).verify("{}", headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(new_endpoint_secret()).verify("{}", headers)


def test_tampered_body_fails() -> None:
    secret = new_endpoint_secret()
    headers = signature_headers([secret], "del_3", datetime.now(UTC), '{"a":1}')
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify('{"a":2}', headers)
