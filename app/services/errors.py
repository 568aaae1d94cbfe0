"""What a business action can refuse, said in the business's words.

Services raise these and know nothing of HTTP; each caller says how a refusal reads to its
audience: the API maps it to the contract's JSON error (`app.errors.as_api_error`), the
pages show its message, the command line prints it. Every message is safe to show to
whoever asked.
"""

from __future__ import annotations


class ServiceError(Exception):
    """An action that could not be done; `message` says why, in a sentence."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class NotFound(ServiceError):
    """No such thing, or one of another workspace (which is the same to the caller)."""

    def __init__(self, what: str) -> None:
        super().__init__(f"{what} not found")


class Conflict(ServiceError):
    """What is stored forbids it: a name taken, a cap reached, a delivery already on its way."""


class Invalid(ServiceError):
    """An argument the action cannot take; the message names it (`url: ...`)."""


class Unauthorized(ServiceError):
    """Missing, malformed or revoked credentials."""


class PayloadTooLarge(ServiceError):
    """A payload over the configured size limit."""


class Inconsistent(ServiceError):
    """The store did not hold what the action had just written; nothing the caller sent."""
