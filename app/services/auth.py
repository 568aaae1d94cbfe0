"""Who is calling: API keys for ingest, management tokens for the management API."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.errors import APIError
from app.ids import hash_token, token_matches
from app.models import ApiKey, ManagementToken

UNAUTHORIZED = "missing, malformed or revoked credentials"


def bearer_token(header: str | None) -> str:
    """Extract the token of an `Authorization: Bearer ...` header, or raise 401."""
    if not header or not header.startswith("Bearer "):
        raise APIError(401, "unauthorized", "missing or malformed Authorization header")
    return header[len("Bearer ") :].strip()


def authenticate_api_key(session: Session, token: str) -> ApiKey:
    """Return the live API key for `token`; 401 otherwise."""
    if not token.startswith("nhk_"):
        raise APIError(401, "unauthorized", UNAUTHORIZED)
    # The lookup is by hash; the constant-time compare guards against a lookup that ever
    # matched loosely (collation, truncation) handing out a key for a different token.
    key = session.scalar(select(ApiKey).where(ApiKey.token_hash == hash_token(token)))
    if key is None or key.revoked_at is not None or not token_matches(token, key.token_hash):
        raise APIError(401, "unauthorized", UNAUTHORIZED)
    return key


def authenticate_management_token(session: Session, token: str) -> ManagementToken:
    """Return the live management token for `token`; 401 otherwise."""
    if not token.startswith("nhm_"):
        raise APIError(401, "unauthorized", UNAUTHORIZED)
    found = session.scalar(
        select(ManagementToken).where(ManagementToken.token_hash == hash_token(token))
    )
    if found is None or found.revoked_at is not None or not token_matches(token, found.token_hash):
        raise APIError(401, "unauthorized", UNAUTHORIZED)
    return found
