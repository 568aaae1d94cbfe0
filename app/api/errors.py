"""Every error leaves as `{"error": {"code", "message"}}`: no HTML page, no stack trace."""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, Response, jsonify
from sqlalchemy.exc import DataError, DBAPIError, TimeoutError
from werkzeug.exceptions import HTTPException

from app.errors import APIError, as_api_error, error_body
from app.services.errors import ServiceError

log = logging.getLogger(__name__)

HTTP_CODES = {
    400: "invalid_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "invalid_request",
    429: "rate_limited",
}


def _json(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> Response:
    response = jsonify(error_body(code, message))
    response.status_code = status
    response.headers.update(headers or {})
    return response


MAX_PATH_VALUE = 200  # longer than any id or event type name


def register(app: Flask) -> None:
    @app.url_value_preprocessor
    def vet_path_values(_endpoint: str | None, values: dict[str, Any] | None) -> None:
        """No id holds a NUL or runs this long: such a path names nothing, so it is a 404
        before any query (PostgreSQL would refuse the NUL as a statement error)."""
        for value in (values or {}).values():
            if isinstance(value, str) and ("\x00" in value or len(value) > MAX_PATH_VALUE):
                raise APIError(404, "not_found", "no such resource")

    @app.errorhandler(APIError)
    def api_error(exc: APIError) -> Response:
        return _json(exc.status, exc.code, exc.message, exc.headers)

    @app.errorhandler(ServiceError)
    def refused(exc: ServiceError) -> Response:
        """A service's refusal, in the contract's words (status and code)."""
        return api_error(as_api_error(exc))

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> Response:
        status = exc.code or 500
        message = exc.description or exc.name
        if status == 413:
            message = "request body too large"
        return _json(status, HTTP_CODES.get(status, "internal_error"), message)

    @app.errorhandler(DataError)
    def data_error(exc: DataError) -> Response:
        # The statement failed because of a value it carried (out of range, not storable):
        # the same request fails the same way every time, so it is the client's 400, never
        # a 503 that invites a retry. Validation refuses these first; this is the backstop.
        log.warning("value refused by the database: %s", type(exc.orig).__name__)
        return _json(400, "invalid_request", "a value in the request cannot be stored")

    @app.errorhandler(DBAPIError)
    def database_error(exc: DBAPIError) -> Response:
        text = str(exc.orig).lower()
        if "statement timeout" in text or "canceling statement" in text or "locked" in text:
            return _json(
                504, "ingest_timeout", "the database did not answer in time; safe to retry"
            )
        # The driver's own first line ("connection refused", "too many clients"): no SQL and
        # no bound parameters, which could carry payload data.
        reason = (str(exc.orig).strip().splitlines() or [""])[0][:200]
        log.warning("database unavailable: %s: %s", type(exc.orig).__name__, reason)
        return _json(
            503, "unavailable", "the database is unavailable; retry later", {"Retry-After": "1"}
        )

    @app.errorhandler(TimeoutError)
    def pool_timeout(_exc: TimeoutError) -> Response:
        return _json(
            503,
            "unavailable",
            "no database connection available; retry later",
            {"Retry-After": "1"},
        )

    @app.errorhandler(Exception)
    def internal_error(exc: Exception) -> Response:
        log.exception("unhandled error")
        return _json(500, "internal_error", "internal error")
