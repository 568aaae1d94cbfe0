"""Request helpers shared by the blueprints, and `intake`, the front door of the ingest routes."""

from __future__ import annotations

import logging
from collections.abc import Collection, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from flask import current_app, request
from sqlalchemy import Connection

from app.db import utcnow
from app.errors import invalid
from app.metrics import DELIVERIES_ACCEPTED
from app.runtime import Runtime
from app.schemas import documents
from app.services.auth import KeyScope, authenticate_for_endpoints, bearer_token
from app.services.fanout import EventItem, EventOutcome, trigger
from app.services.ingest import IngestItem, ItemOutcome, ingest

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


@dataclass
class Intake:
    """An authenticated ingest request's connection, and the deliveries it has created.

    Its one write is `ingest` or `trigger`, called once (see `intake`). `endpoints` are the
    endpoints `intake` was asked to look up that exist in the key's environment (None when
    none were asked for).
    """

    conn: Connection
    api_key: KeyScope
    endpoints: set[str] | None
    created: list[str] = field(default_factory=list)  # published once the commit succeeded

    def ingest(self, items: list[IngestItem]) -> list[ItemOutcome]:
        """Store one delivery per valid item; remember the new ones, to publish after the commit."""
        if not items:
            return []
        outcomes = ingest(
            self.conn,
            self.api_key,
            items,
            max_payload_bytes=runtime().settings.max_payload_bytes,
            now=utcnow(),
            endpoints=self.endpoints,
        )
        self.created += [o.delivery_id for o in outcomes if o.created and o.delivery_id]
        return outcomes

    def trigger(self, items: list[EventItem]) -> list[EventOutcome]:
        """Fan each event out to its subscribers; remember the new deliveries, as `ingest` does."""
        if not items:
            return []
        outcomes = trigger(
            self.conn,
            self.api_key,
            items,
            max_payload_bytes=runtime().settings.max_payload_bytes,
            now=utcnow(),
        )
        self.created += [d for o in outcomes for d in o.delivery_ids]
        return outcomes


@contextmanager
def intake(endpoint_ids: Collection[str] = ()) -> Iterator[Intake]:
    """Authenticate and rate-limit the API key, then run the block on one connection.

    The block parses the body, so a bad key (401) or an empty bucket (429) answers before
    any bad body (400). `endpoint_ids`, when known before the body is read, are looked up
    with the key in the same query. The block writes once, at its end (`Intake.ingest` or
    `Intake.trigger`): one statement on PostgreSQL, in autocommit, and a transaction around
    the block on SQLite (`Runtime.intake_engine`), so a request stores all its deliveries or
    none.

    Each statement is bounded by the engine's statement timeout (`HOOKRELAY_INGEST_TIMEOUT`),
    so a stuck database answers 504 rather than hanging. The deliveries the block created
    are published only once the write has committed, so a worker never looks for an
    uncommitted row; if the block raises, nothing is stored or published.
    """
    rt = runtime()
    token = bearer_token(request.headers.get("Authorization"))
    with rt.intake_engine.begin() as conn:
        api_key, endpoints = authenticate_for_endpoints(conn, token, endpoint_ids)
        rt.rate_limits().ingest(api_key.workspace_id, api_key.id)
        req = Intake(conn, api_key, endpoints if endpoint_ids else None)
        yield req
    DELIVERIES_ACCEPTED.inc(len(req.created))
    for delivery_id in req.created:
        log.info(
            "delivery accepted",
            extra={"delivery_id": delivery_id, "workspace_id": api_key.workspace_id},
        )
    rt.publisher.publish(req.created)
