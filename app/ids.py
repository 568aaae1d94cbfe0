"""Public identifiers and credentials: prefixed random strings, tokens kept only as hashes."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time

_ALPHABET = "0123456789abcdefghijklmnopqrstuvwxyz"


def _base36(number: int, width: int) -> str:
    digits = []
    for _ in range(width):
        number, rem = divmod(number, 36)
        digits.append(_ALPHABET[rem])
    return "".join(reversed(digits))


def new_id(prefix: str) -> str:
    """Return `prefix_` + a time-ordered random id, so ids sort by creation (used by cursors)."""
    millis = time.time_ns() // 1_000_000
    return f"{prefix}_{_base36(millis, 9)}{_base36(secrets.randbits(80), 16)}"


def new_api_key(region: str) -> str:
    return f"nhk_{region}_{secrets.token_urlsafe(32)}"


def new_management_token() -> str:
    return f"nhm_{secrets.token_urlsafe(32)}"


def new_endpoint_secret() -> str:
    """A Standard Webhooks secret: `whsec_` + base64 of 24 random bytes."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()


def hash_token(token: str) -> str:
    """SHA-256 of a token: tokens carry 256 random bits, so a slow KDF would buy nothing."""
    return hashlib.sha256(token.encode()).hexdigest()


def token_matches(token: str, stored_hash: str) -> bool:
    return hmac.compare_digest(hash_token(token), stored_hash)
