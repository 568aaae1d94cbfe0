"""`POST /batch`: up to 10 management calls in one request, TalkJS style.

Each operation is dispatched through this Flask app as a request of its own, with the
caller's credentials, so it gets exactly the authentication, validation, errors and status
codes of the route it names: there is no second implementation of any route.
"""

from __future__ import annotations

import logging
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import urlencode

from flask import Flask, current_app, request
from werkzeug.exceptions import HTTPException, NotFound
from werkzeug.test import Client

from app.api.context import read_json, runtime
from app.api.management import bp, workspace_session
from app.api.spec import documented
from app.errors import error_body, invalid
from app.schemas.batch import (
    BatchOperations,
    BatchResults,
    Operation,
    known_version,
    parse_operations,
)

# Set in the WSGI environ of every operation; a client cannot set environ keys.
OPERATION = "hookrelay.batch_operation"
CONCURRENCY = 4  # operations of one batch in flight at once
log = logging.getLogger(__name__)


@bp.post("/batch")
@documented(
    "Run up to 10 management calls, in any order; answers 200 with every call's status and body",
    body=BatchOperations,
    response=BatchResults,
)
def run_batch(workspace_id: str) -> tuple[list[list[Any]], int]:
    if request.environ.get(OPERATION):
        raise invalid("a batch operation cannot call /batch")
    with workspace_session(workspace_id):
        operations = parse_operations(read_json(whole=False))
    time.sleep(runtime().rate_limits().batch(workspace_id))  # the bucket's queue: wait for a token
    app: Flask = current_app._get_current_object()  # type: ignore[attr-defined]
    caller = Caller(app, request.path.removesuffix("/batch"), request.headers, request.host_url)
    with ThreadPoolExecutor(max_workers=min(CONCURRENCY, len(operations) or 1)) as pool:
        return list(pool.map(caller.run, operations)), 200


class Caller:
    """Dispatches operations as requests of the original caller, under its workspace path."""

    def __init__(self, app: Flask, base: str, headers: Any, host_url: str) -> None:
        self.app, self.base, self.host_url = app, base, host_url
        self.headers = {k: v for k, v in headers.items() if k in ("Authorization", "User-Agent")}

    def run(self, operation: Operation) -> list[Any]:
        """One operation's `[sequence_number, status, body]`; its failure is its own."""
        try:
            return self._run(operation)
        except UnicodeError:
            return _invalid(operation[0], "the path and payload must be valid Unicode")
        except Exception:
            log.exception("batch operation failed")
            return [operation[0], 500, error_body("internal_error", "internal error")]

    def _run(self, operation: Operation) -> list[Any]:
        number, method, path = operation[:3]
        payload: Any = operation[3] if len(operation) > 3 else None
        version = operation[4].api_version if len(operation) > 4 else None  # type: ignore[misc]
        if version is not None and not known_version(version):
            return _invalid(
                number, f"unknown api_version {version!r}: v1, or a date YYYY-MM-DD up to today"
            )
        route, _, query = path.partition("?")
        if not self._exists(self.base + route, method):
            return [number, 404, f"Could not find route {method} {path}"]
        extra: dict[str, Any] = {}
        if method == "GET":
            if not _string_map(payload):
                return _invalid(number, "a GET payload holds query parameters: string pairs")
            query = "&".join(q for q in (query, urlencode(payload or {})) if q)
        elif len(operation) > 3:
            extra["json"] = payload
        response = Client(self.app).open(
            self.base + route,
            method=method,
            base_url=self.host_url,
            query_string=query,
            headers=self.headers,
            environ_overrides={OPERATION: True},
            **extra,
        )
        body = response.get_json(silent=True) if response.data else None
        return [number, response.status_code, body]

    def _exists(self, path: str, method: str) -> bool:
        try:
            self.app.url_map.bind("localhost").match(path, method)
        except NotFound:
            return False
        except HTTPException:
            return True  # a known route with another method: dispatched for its real 405
        return True


def _invalid(number: float, message: str) -> list[Any]:
    return [number, 400, error_body("invalid_request", message)]


def _string_map(payload: Any) -> bool:
    if payload is None:
        return True
    return isinstance(payload, dict) and all(isinstance(v, str) for v in payload.values())
