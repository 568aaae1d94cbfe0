"""Who is calling: API keys for ingest, management tokens for the management API."""

from __future__ import annotations

import threading
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy import Connection, and_, bindparam, select
from sqlalchemy.orm import Session

from app.ids import hash_token, token_matches
from app.models import ApiKey, Endpoint, ManagementToken
from app.services.errors import Unauthorized

UNAUTHORIZED = "missing, malformed or revoked credentials"


def bearer_token(header: str | None) -> str:
    """Extract the token of an `Authorization: Bearer ...` header, or refuse (a 401)."""
    if not header or not header.startswith("Bearer "):
        raise Unauthorized("missing or malformed Authorization header")
    return header[len("Bearer ") :].strip()


class KeyScope(Protocol):
    """What a request may touch: one workspace's environment, as an API key grants."""

    @property
    def id(self) -> str: ...
    @property
    def workspace_id(self) -> str: ...
    @property
    def environment_id(self) -> str: ...


@dataclass(frozen=True)
class Caller:
    """The API key a request authenticated with, read as a plain row (no ORM load)."""

    id: str
    workspace_id: str
    environment_id: str


def authenticate_api_key(session: Session, token: str) -> Caller:
    """Return the live API key for `token`; 401 otherwise."""
    return authenticate_for_endpoints(session.connection(), token, ())[0]


# Built once: constructing the query cost more CPU than running it.
_keys, _endpoints = ApiKey.__table__, Endpoint.__table__
_KEY = select(
    _keys.c.id,
    _keys.c.workspace_id,
    _keys.c.environment_id,
    _keys.c.token_hash,
    _keys.c.revoked_at,
).where(_keys.c.token_hash == bindparam("b_hash"))


def _with_endpoints(match: Any) -> Any:
    return _KEY.add_columns(_endpoints.c.id.label("endpoint_id")).outerjoin(
        _endpoints,
        and_(
            match,
            _endpoints.c.workspace_id == _keys.c.workspace_id,
            _endpoints.c.environment_id == _keys.c.environment_id,
        ),
    )


_KEY_WITH_ENDPOINTS = _with_endpoints(_endpoints.c.id.in_(bindparam("b_endpoints", expanding=True)))
# A single send's one endpoint: an expanding IN is rendered anew on every execution, which
# cost about as much CPU as the rest of the query's preparation.
_KEY_WITH_ENDPOINT = _with_endpoints(_endpoints.c.id == bindparam("b_endpoint"))


def authenticate_for_endpoints(
    conn: Connection, token: str, endpoint_ids: Collection[str]
) -> tuple[Caller, set[str]]:
    """Return the live API key for `token` and which of `endpoint_ids` are in its
    environment, in one query (a single send knows its endpoint before reading the body).
    """
    if not token.startswith("nhk_"):
        raise Unauthorized(UNAUTHORIZED)
    params: dict[str, Any] = {"b_hash": hash_token(token)}
    statement = _KEY
    if len(endpoint_ids) == 1:
        statement, params["b_endpoint"] = _KEY_WITH_ENDPOINT, next(iter(endpoint_ids))
    elif endpoint_ids:
        statement, params["b_endpoints"] = _KEY_WITH_ENDPOINTS, list(endpoint_ids)
    rows = conn.execute(statement, params).all()
    key = rows[0] if rows else None
    # The lookup is by hash; the constant-time compare guards against a lookup that ever
    # matched loosely (collation, truncation) handing out a key for a different token.
    if key is None or key.revoked_at is not None or not token_matches(token, key.token_hash):
        raise Unauthorized(UNAUTHORIZED)
    found = {row.endpoint_id for row in rows if endpoint_ids and row.endpoint_id is not None}
    return Caller(key.id, key.workspace_id, key.environment_id), found


class KnownKeys:
    """The API keys this process has authenticated, with the endpoints found in each one's
    environment: a single send from a known key to a known endpoint needs no key query.

    Only what never changes for a token is kept: the key's id, workspace and environment,
    and that an endpoint id belongs to that environment. What can change (a key revoked,
    an endpoint deleted) is checked by the write itself (`storing.Shared.guard_key`), and a
    request answered from here checks the key again before it answers any error, so a dead
    key still gets its 401 first. Bounded (at most `max_keys` x `max_endpoints` ids, ~30 MB):
    past `max_keys` the oldest key is forgotten, and a key's endpoints past `max_endpoints`
    start over, which costs a key query, never a wrong answer.
    """

    def __init__(self, max_keys: int = 1_000, max_endpoints: int = 256) -> None:
        self._max_keys = max_keys
        self._max_endpoints = max_endpoints
        self._keys: dict[str, tuple[Caller, set[str]]] = {}
        self._lock = threading.Lock()

    def get(self, token: str, endpoint_ids: Collection[str]) -> Caller | None:
        """The key behind `token` if it and every one of `endpoint_ids` (at least one) are known."""
        known = self._keys.get(hash_token(token)) if endpoint_ids else None
        if known is None or not known[1].issuperset(endpoint_ids):
            return None
        return known[0]

    def remember(self, token: str, caller: Caller, endpoint_ids: set[str]) -> None:
        digest = hash_token(token)
        with self._lock:
            known = self._keys.get(digest)
            endpoints = known[1] if known is not None else set()
            if len(endpoints) + len(endpoint_ids) > self._max_endpoints:
                endpoints = set()
            endpoints |= endpoint_ids
            self._keys[digest] = (caller, endpoints)
            while len(self._keys) > self._max_keys:
                del self._keys[next(iter(self._keys))]

    def forget(self, token: str) -> None:
        """Drop `token` (its key or an endpoint is gone): its next request asks the database."""
        with self._lock:
            self._keys.pop(hash_token(token), None)


def authenticate_management_token(session: Session, token: str) -> ManagementToken:
    """Return the live management token for `token`; 401 otherwise."""
    if not token.startswith("nhm_"):
        raise Unauthorized(UNAUTHORIZED)
    found = session.scalar(
        select(ManagementToken).where(ManagementToken.token_hash == hash_token(token))
    )
    if found is None or found.revoked_at is not None or not token_matches(token, found.token_hash):
        raise Unauthorized(UNAUTHORIZED)
    return found
