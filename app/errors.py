"""The single error type of the API, the contract's JSON error shape, and how a service's
refusal reads on the wire."""

from __future__ import annotations

from typing import Any

from app.services import errors as refusals


class APIError(Exception):
    """An error the client should see: HTTP status, contract code, human message."""

    def __init__(
        self, status: int, code: str, message: str, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        return error_body(self.code, self.message)


def error_body(code: str, message: str) -> dict[str, Any]:
    return {"error": {"code": code, "message": message}}


def not_found(what: str) -> APIError:
    return APIError(404, "not_found", f"{what} not found")


def invalid(message: str) -> APIError:
    return APIError(400, "invalid_request", message)


# Each service refusal's HTTP status and contract code; the message is the service's own.
_WIRE: dict[type[refusals.ServiceError], tuple[int, str]] = {
    refusals.NotFound: (404, "not_found"),
    refusals.Conflict: (409, "conflict"),
    refusals.Invalid: (400, "invalid_request"),
    refusals.Unauthorized: (401, "unauthorized"),
    refusals.PayloadTooLarge: (413, "payload_too_large"),
    refusals.Inconsistent: (500, "internal_error"),
}


def as_api_error(exc: Exception) -> APIError:
    """The error as the client sees it: a service refusal mapped, an APIError as it is."""
    if isinstance(exc, APIError):
        return exc
    if isinstance(exc, refusals.ServiceError):
        for kind in type(exc).__mro__:
            if kind in _WIRE:
                status, code = _WIRE[kind]
                return APIError(status, code, exc.message)
    return APIError(500, "internal_error", "internal error")
