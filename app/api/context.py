"""Request helpers shared by the blueprints, and `intake`, the front door of the ingest routes."""

from __future__ import annotations

import logging
from collections.abc import Collection, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from flask import current_app, request
from sqlalchemy import Connection
from werkzeug.exceptions import HTTPException

from app.db import utcnow
from app.errors import APIError, invalid
from app.metrics import DELIVERIES_ACCEPTED
from app.runtime import Runtime
from app.schemas import documents
from app.services.auth import KeyScope, authenticate_for_endpoints, bearer_token
from app.services.errors import ServiceError, Unauthorized
from app.services.fanout import EventItem, EventOutcome, trigger
from app.services.ingest import IngestItem, ItemOutcome, ingest
from app.services.storing import Unverified

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
    none were asked for). `remembered`: the key and endpoints came from the process's
    `KnownKeys`, not from the database, and are checked before anything is stored or any
    error answered (`verify`).
    """

    conn: Connection
    token: str = field(repr=False)
    api_key: KeyScope
    endpoints: set[str] | None
    remembered: bool = False
    created: list[str] = field(default_factory=list)  # published once the commit succeeded
    parked: set[str] = field(default_factory=set)  # created parked: not published (storing)

    def verify(self) -> None:
        """Read a remembered key and its endpoints from the database: 401 if it is dead."""
        if not self.remembered:
            return
        asked = self.endpoints or ()
        try:
            self.api_key, found = authenticate_for_endpoints(self.conn, self.token, asked)
        except Unauthorized:
            runtime().known_keys.forget(self.token)
            raise
        self.endpoints, self.remembered = found, False

    def ingest(self, items: list[IngestItem]) -> list[ItemOutcome]:
        """Store one delivery per valid item; remember the new ones, to publish after the commit."""
        if not items:
            return []
        try:
            outcomes = self._ingest(items)
        except Unverified:  # the key or an endpoint is gone: nothing was stored
            runtime().known_keys.forget(self.token)
            self.verify()
            outcomes = self._ingest(items)
        if self.remembered and any(o.error for o in outcomes):
            self.verify()  # a dead key's 401 comes before an item's error
        self.remembered = False  # else the guarded write found the key live
        self.created += [o.delivery_id for o in outcomes if o.created and o.delivery_id]
        self.parked.update(o.delivery_id for o in outcomes if o.parked and o.delivery_id)
        return outcomes

    def _ingest(self, items: list[IngestItem]) -> list[ItemOutcome]:
        return ingest(
            self.conn,
            self.api_key,
            items,
            max_payload_bytes=runtime().settings.max_payload_bytes,
            now=utcnow(),
            endpoints=self.endpoints,
            guard=self.remembered,
        )

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
    uncommitted row; if the block raises, nothing is stored or published. Those stored
    parked behind their endpoint's backlog are not published at all (`storing.store`).
    """
    rt = runtime()
    token = bearer_token(request.headers.get("Authorization"))
    with rt.intake_engine.begin() as conn:
        known = rt.known_keys.get(token, endpoint_ids)
        if known is not None:
            req = Intake(conn, token, known, set(endpoint_ids), remembered=True)
        else:
            api_key, endpoints = authenticate_for_endpoints(conn, token, endpoint_ids)
            rt.known_keys.remember(token, api_key, endpoints)
            req = Intake(conn, token, api_key, endpoints if endpoint_ids else None)
        try:
            rt.rate_limits().ingest(req.api_key.workspace_id, req.api_key.id)
            yield req
        except (APIError, ServiceError, HTTPException):
            req.verify()  # a dead key's 401 comes before a 429 or a bad body's 400
            raise
    DELIVERIES_ACCEPTED.inc(len(req.created))
    for delivery_id in req.created:
        log.info(
            "delivery accepted",
            extra={"delivery_id": delivery_id, "workspace_id": req.api_key.workspace_id},
        )
    rt.publisher.publish([d for d in req.created if d not in req.parked])
