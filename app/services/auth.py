"""Who is calling: API keys for ingest, management tokens for the management API."""

from __future__ import annotations

from collections.abc import Collection

from sqlalchemy import and_, select
from sqlalchemy.orm import Session

from app.errors import APIError
from app.ids import hash_token, token_matches
from app.models import ApiKey, Endpoint, ManagementToken

UNAUTHORIZED = "missing, malformed or revoked credentials"


def bearer_token(header: str | None) -> str:
    """Extract the token of an `Authorization: Bearer ...` header, or raise 401."""
    if not header or not header.startswith("Bearer "):
        raise APIError(401, "unauthorized", "missing or malformed Authorization header")
    return header[len("Bearer ") :].strip()


def authenticate_api_key(session: Session, token: str) -> ApiKey:
    """Return the live API key for `token`; 401 otherwise."""
    return authenticate_for_endpoints(session, token, ())[0]


def authenticate_for_endpoints(
    session: Session, token: str, endpoint_ids: Collection[str]
) -> tuple[ApiKey, set[str]]:
    """Return the live API key for `token` and which of `endpoint_ids` are in its
    environment, in one query (a single send knows its endpoint before reading the body).
    """
    if not token.startswith("nhk_"):
        raise APIError(401, "unauthorized", UNAUTHORIZED)
    query = select(ApiKey).where(ApiKey.token_hash == hash_token(token))
    if endpoint_ids:
        query = query.add_columns(Endpoint.id).outerjoin(
            Endpoint,
            and_(
                Endpoint.id.in_(endpoint_ids),
                Endpoint.workspace_id == ApiKey.workspace_id,
                Endpoint.environment_id == ApiKey.environment_id,
            ),
        )
    rows = session.execute(query).all()
    key = rows[0][0] if rows else None
    # The lookup is by hash; the constant-time compare guards against a lookup that ever
    # matched loosely (collation, truncation) handing out a key for a different token.
    if key is None or key.revoked_at is not None or not token_matches(token, key.token_hash):
        raise APIError(401, "unauthorized", UNAUTHORIZED)
    return key, {row[1] for row in rows if endpoint_ids and row[1] is not None}


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
