"""The single error type of the API and the contract's JSON error shape."""

from __future__ import annotations

from typing import Any


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
