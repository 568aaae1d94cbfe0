"""Request helpers shared by the blueprints."""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Iterable
from typing import Any, TypeVar

from flask import current_app, request
from sqlalchemy.orm import Session

from app.errors import invalid
from app.metrics import DELIVERIES_ACCEPTED
from app.runtime import Runtime
from app.schemas import documents
from app.services.auth import KeyScope, authenticate_for_endpoints, bearer_token

R = TypeVar("R")
log = logging.getLogger("hookrelay.ingest")


def runtime() -> Runtime:
    rt: Runtime = current_app.extensions["hookrelay"]
    return rt


def read_json(whole: bool = True) -> Any:
    """Parse the request body as JSON whatever the Content-Type, or raise 400.

    The rules of `documents.loads` apply; see there for `whole`.
    """
    raw = request.get_data(cache=True)
    if not raw:
        raise invalid("request body must be JSON")
    return documents.loads(raw, whole)


def accept(
    work: Callable[[Session, KeyScope, set[str] | None], tuple[R, Iterable[str]]],
    endpoint_ids: Collection[str] = (),
) -> R:
    """Authenticate and rate-limit the API key, run `work` in one transaction, publish after.

    `endpoint_ids`, when known before the body is read, are looked up with the key, and
    `work` gets those found in the key's environment (None when none were asked for).

    Each statement is bounded by the engine's statement timeout (`HOOKRELAY_INGEST_TIMEOUT`),
    so a stuck database answers 504 rather than hanging.

    `work` returns its result and the ids of the deliveries it created; they are published
    only once the commit has succeeded, so a worker never looks for an uncommitted row.
    """
    rt = runtime()
    token = bearer_token(request.headers.get("Authorization"))
    with rt.sessions.begin() as session:
        api_key, endpoints = authenticate_for_endpoints(session, token, endpoint_ids)
        rt.rate_limits().ingest(api_key.workspace_id, api_key.id)
        workspace_id = api_key.workspace_id
        result, created = work(session, api_key, endpoints if endpoint_ids else None)
        created = list(created)
    DELIVERIES_ACCEPTED.inc(len(created))
    for delivery_id in created:
        log.info(
            "delivery accepted", extra={"delivery_id": delivery_id, "workspace_id": workspace_id}
        )
    rt.publisher.publish(created)
    return result
