"""The outbound HTTP client: pooled, bounded in time and size, never redirected, SSRF-guarded."""

from __future__ import annotations

import ipaddress
import logging
import socket
import threading
import time
from dataclasses import dataclass, field
from http.cookiejar import DefaultCookiePolicy
from urllib.parse import urlsplit

import requests
from requests_hardened import Config, HTTPSession
from requests_hardened.ip_filter import InvalidIPAddress

from app import failures
from app.retry import AttemptResult

EXCERPT_BYTES = 4096
CONNECT_TIMEOUT = 5.0
USER_AGENT = "hookrelay/0.1"
# requests' defaults (Accept, Accept-Encoding, Connection) with hookrelay's User-Agent;
# each attempt adds its own headers on top.
BASE_HEADERS = {**requests.utils.default_headers(), "User-Agent": USER_AGENT}
log = logging.getLogger("hookrelay.sender")


class DestinationRefused(Exception):
    """The URL points somewhere hookrelay must not send to."""


@dataclass(frozen=True)
class OutboundRequest:
    url: str
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)
    auth: tuple[str, str] | None = None
    timeout: float = 15.0


def is_forbidden_address(address: str) -> bool:
    """Loopback, RFC 1918, link-local (metadata), CG-NAT, multicast, reserved, IPv6 local."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return (
        ip.is_private
        or ip.is_loopback
        or ip.is_link_local
        or ip.is_multicast
        or ip.is_reserved
        or ip.is_unspecified
        or ip in ipaddress.ip_network("100.64.0.0/10")
    )


def check_destination(url: str, allow_private: bool) -> None:
    """Refuse a URL that is not http(s) or whose host resolves to a forbidden address.

    Used when an endpoint is saved; the sender checks again at connect time, on the address
    it actually connects to, because DNS can change between the two.
    """
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise DestinationRefused("URL must be an absolute http or https URL")
    if allow_private:
        return
    try:
        infos = socket.getaddrinfo(parts.hostname, parts.port or 443, type=socket.SOCK_STREAM)
    except socket.gaierror:
        return  # unresolvable now; the send-time check decides later
    for info in infos:
        if is_forbidden_address(str(info[4][0])):
            raise DestinationRefused("URL resolves to a private or reserved address")


class Sender:
    """Sends one attempt. One pooled session per thread (urllib3 pools are per session)."""

    def __init__(self, allow_private: bool) -> None:
        self._config = Config(
            ip_filter_enable=not allow_private,
            ip_filter_allow_loopback_ips=False,
            never_redirect=True,
            default_timeout=(CONNECT_TIMEOUT, 15.0),
            user_agent_override=USER_AGENT,
        )
        self._allow_private = allow_private
        self._local = threading.local()

    def _session(self) -> requests.Session:
        session = getattr(self._local, "session", None)
        if session is None:
            session = HTTPSession(self._config)
            # No proxies or .netrc from the environment: a proxy would connect on the
            # worker's behalf and so bypass the private-address guard, and looking them up
            # walks the whole environment on every request.
            session.trust_env = False
            # A receiver's cookies are neither kept nor sent to the next delivery.
            session.cookies.set_policy(DefaultCookiePolicy(allowed_domains=[]))
            self._local.session = session
        return session

    def send(self, request: OutboundRequest) -> AttemptResult:
        """POST once; every failure mode comes back as an AttemptResult, never raised."""
        started = time.monotonic()
        deadline = started + request.timeout
        connect_timeout = min(CONNECT_TIMEOUT, request.timeout)
        try:
            check_destination(request.url, allow_private=True)  # scheme and host only
            # Prepared without the session's merge of its own headers, cookies, auth and
            # hooks (none of which a delivery uses), which cost about a quarter of the
            # send; `send` still goes through the session's SSRF-guarding adapters.
            prepared = requests.Request(
                "POST",
                request.url,
                data=request.body,
                headers={**BASE_HEADERS, **request.headers},
                auth=request.auth,
            ).prepare()
            response = self._session().send(
                prepared,
                timeout=(connect_timeout, request.timeout),
                allow_redirects=False,
                stream=True,
            )
        except (InvalidIPAddress, DestinationRefused) as exc:
            return AttemptResult(error=f"destination refused: {exc}", refused=True)
        except requests.RequestException as exc:
            error = _failed(exc, request, connect_timeout)
            return AttemptResult(error=error, response_time_ms=_ms(started))
        with response:
            excerpt, exc = _read_excerpt(response, deadline)
            error = _failed(exc, request, connect_timeout) if exc else None
            if 300 <= response.status_code < 400:
                error = failures.redirect(response.headers.get("Location"))
            return AttemptResult(
                status_code=response.status_code,
                error=error,
                response_time_ms=_ms(started),
                body_excerpt=excerpt,
                retry_after=response.headers.get("Retry-After"),
            )


def _read_excerpt(
    response: requests.Response, deadline: float
) -> tuple[str, requests.RequestException | None]:
    """Read at most EXCERPT_BYTES of the body, and stop reading at the attempt's deadline."""
    chunks: list[bytes] = []
    size = 0
    try:
        for chunk in response.iter_content(chunk_size=1024):
            chunks.append(chunk)
            size += len(chunk)
            if size >= EXCERPT_BYTES or time.monotonic() > deadline:
                break
    except requests.RequestException as exc:
        return b"".join(chunks)[:EXCERPT_BYTES].decode("utf-8", "replace"), exc
    return b"".join(chunks)[:EXCERPT_BYTES].decode("utf-8", "replace"), None


def _failed(exc: BaseException, request: OutboundRequest, connect_timeout: float) -> str:
    """The attempt's short cause; the exception chain goes to the log."""
    host = urlsplit(request.url).hostname or "?"
    error = failures.cause(exc, host, connect_timeout, request.timeout)
    log.info("attempt to %s failed: %s (%s)", host, error, failures.detail(exc))
    return error


def _ms(started: float) -> int:
    return int((time.monotonic() - started) * 1000)
