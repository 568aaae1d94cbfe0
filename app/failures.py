"""Why an attempt failed, in a few words an operator can act on.

The HTTP libraries wrap the real cause several layers deep (`ConnectionError(MaxRetryError(
NewConnectionError(ConnectionRefusedError)))`) and their text reads as if hookrelay had given
up after one try. The cause is found by walking that chain of exception types, never by
parsing messages; the raw chain goes to the worker log instead (without the URL, which may
carry credentials).
"""

from __future__ import annotations

import errno
import socket
import ssl
from collections.abc import Iterator
from http.client import LineTooLong, RemoteDisconnected

import requests
from urllib3.exceptions import MaxRetryError, NameResolutionError, ProtocolError, ReadTimeoutError

MAX_LOCATION = 200  # characters of a redirect target kept in the error


def cause(exc: BaseException, host: str, connect_timeout: float, timeout: float) -> str:
    """The short cause of a failed request to `host`."""
    if isinstance(exc, requests.ConnectTimeout):
        return f"timed out after {connect_timeout:g} s connecting"
    if isinstance(exc, requests.Timeout):
        return f"timed out after {timeout:g} s"
    chain = list(causes(exc))
    for found in chain:
        if isinstance(found, ReadTimeoutError | TimeoutError):  # e.g. a body that stalls
            return f"timed out after {timeout:g} s"
        if isinstance(found, ssl.SSLCertVerificationError):
            if found.verify_code == 62:  # X509_V_ERR_HOSTNAME_MISMATCH
                return f"TLS certificate does not match {host}"
            return "TLS certificate not trusted"
        if isinstance(found, NameResolutionError | socket.gaierror):
            return f"DNS lookup failed for {host}"
        if isinstance(found, ConnectionRefusedError):
            return "connection refused"
        if isinstance(found, ConnectionResetError | BrokenPipeError):
            return "connection reset"
        if isinstance(found, RemoteDisconnected):
            return "connection closed without a response"
        if isinstance(found, LineTooLong):
            return "response too large"
        if isinstance(found, OSError) and found.errno in (errno.EHOSTUNREACH, errno.ENETUNREACH):
            return f"{host} unreachable"
    if any(isinstance(found, ssl.SSLError) for found in chain):
        return "TLS handshake failed"
    if isinstance(exc, requests.ConnectionError):
        return "connection failed"
    return f"request failed ({type(exc).__name__})"


def redirect(location: str | None) -> str:
    """The error of a 3xx answer: hookrelay never follows a redirect."""
    if not location:
        return "redirect not followed"
    if len(location) > MAX_LOCATION:
        location = location[:MAX_LOCATION] + "..."
    return f"redirect to {location} not followed"


def detail(exc: BaseException) -> str:
    """The chain's exception types and the innermost message, for the log."""
    chain = list(causes(exc))
    names = " <- ".join(type(found).__name__ for found in chain)
    innermost = chain[-1]
    # Only the standard library's socket-level messages: the HTTP libraries' ones hold the URL.
    if type(innermost).__module__ in ("builtins", "socket", "ssl", "http.client"):
        names += f": {innermost}"
    return names[:500]


def causes(exc: BaseException) -> Iterator[BaseException]:
    """`exc` and every exception it wraps, outermost first."""
    seen: set[int] = set()
    pending = [exc]
    while pending:
        current = pending.pop(0)
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        wrapped: list[BaseException | None] = [current.__cause__, current.__context__]
        if isinstance(current, MaxRetryError):
            wrapped.insert(0, current.reason)
        if isinstance(current, requests.RequestException | ProtocolError):
            wrapped[:0] = [arg for arg in current.args if isinstance(arg, BaseException)]
        pending.extend(found for found in wrapped if found is not None)
