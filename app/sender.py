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
from requests_hardened.ip_filter import EXTRA_BLOCKED_NET_RANGES, InvalidIPAddress
from urllib3.util import parse_url

from app import failures
from app.retry import AttemptResult

EXCERPT_BYTES = 4096
CONNECT_TIMEOUT = 5.0
USER_AGENT = "hookrelay/0.1"
# requests' defaults (Accept, Accept-Encoding, Connection) with hookrelay's User-Agent;
# each attempt adds its own headers on top.
BASE_HEADERS = {**requests.utils.default_headers(), "User-Agent": USER_AGENT}
log = logging.getLogger("hookrelay.sender")


# Cloud instance-metadata services: credentials for the machine itself. Refused even when
# private destinations are allowed, unless HOOKRELAY_ALLOW_METADATA_DESTINATIONS says so.
METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(a)
    for a in ("169.254.169.254", "169.254.170.2", "100.100.100.200", "fd00:ec2::254")
)
NAT64 = ipaddress.ip_network("64:ff9b::/96")
# Framing and routing: the HTTP client writes these itself. A configured one could
# contradict its framing (`Transfer-Encoding` with `Content-Length`) and smuggle a request.
FRAMING_HEADERS = frozenset(
    {
        "connection",
        "content-length",
        "expect",
        "host",
        "keep-alive",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
    }
)
# Every header hookrelay sets: none may be configured on an endpoint.
ENGINE_HEADERS = FRAMING_HEADERS | {
    "content-type",
    "webhook-id",
    "webhook-signature",
    "webhook-timestamp",
}
# What requests raises for a URL or header it can never send: no retry will fix these.
UNSENDABLE = (
    requests.exceptions.InvalidURL,
    requests.exceptions.InvalidHeader,
    requests.exceptions.InvalidSchema,
    requests.exceptions.MissingSchema,
)


class DestinationRefused(Exception):
    """The URL points somewhere hookrelay must not send to, or cannot be parsed."""


@dataclass(frozen=True)
class OutboundRequest:
    url: str
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)
    auth: tuple[str, str] | None = None
    timeout: float = 15.0


Address = ipaddress.IPv4Address | ipaddress.IPv6Address


def _embedded_ipv4(ip: Address) -> Address:
    """The IPv4 address an IPv6 transition form (mapped, 6to4, NAT64) reaches, or `ip` itself."""
    if isinstance(ip, ipaddress.IPv4Address):
        return ip
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip in NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return ip


def is_forbidden_address(address: str) -> bool:
    """Loopback, RFC 1918, link-local (metadata), CG-NAT, multicast, reserved, IPv6 local,
    and the transition ranges (6to4, NAT64) the send-time filter refuses too."""
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
        or any(ip in net for net in EXTRA_BLOCKED_NET_RANGES)
    )


def is_metadata_address(address: str) -> bool:
    """A cloud metadata service, however the address is written."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    return ip in METADATA_ADDRESSES or _embedded_ipv4(ip) in METADATA_ADDRESSES


def destination(url: str) -> tuple[str, int]:
    """The host and port the sender would connect to, parsed as `requests` parses them.

    Refuses what requests cannot send (bad port, a host that is no valid IDNA name) and
    URLs that parsers read differently (`http://a\\@b/`: urllib3 connects to `a`).
    """
    try:
        parts = urlsplit(url)
        port = parts.port
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise DestinationRefused("must be an absolute http(s) URL with a host")
        prepared = requests.models.PreparedRequest()
        prepared.prepare_url(url, None)
        host = (parse_url(prepared.url or "").host or "").strip("[]").lower()
    except (requests.RequestException, ValueError) as exc:
        raise DestinationRefused(f"URL cannot be parsed: {str(exc)[:200]}") from exc
    differs = parts.hostname.isascii() and host != parts.hostname.lower()
    if "\\" in url or differs:
        raise DestinationRefused("URL is ambiguous: parsers read its host differently")
    if port == 0:
        raise DestinationRefused("URL port must be between 1 and 65535")
    return host, port or (443 if parts.scheme == "https" else 80)


def check_destination(url: str, allow_private: bool, allow_metadata: bool = False) -> None:
    """Refuse a URL that cannot be parsed, or whose host resolves to a forbidden address.

    Used when an endpoint is saved and before each send; the sender also checks at connect
    time, on the address it actually connects to, because DNS can change between the two.
    Metadata addresses stay refused with private destinations allowed, unless
    `allow_metadata`.
    """
    host, port = destination(url)
    if allow_private and allow_metadata:
        return
    for address in _resolve(host, port):
        if not allow_private and is_forbidden_address(address):
            raise DestinationRefused("URL resolves to a private or reserved address")
        if not allow_metadata and is_metadata_address(address):
            raise DestinationRefused("URL resolves to a cloud metadata address")


def _resolve(host: str, port: int) -> list[str]:
    """Every address of `host`; an IP literal costs no lookup. Unresolvable: none (the
    send-time check decides later)."""
    try:
        return [str(ipaddress.ip_address(host))]
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError):
        return []
    return [str(info[4][0]) for info in infos]


class Sender:
    """Sends one attempt. One pooled session per thread (urllib3 pools are per session)."""

    def __init__(self, allow_private: bool, allow_metadata: bool = False) -> None:
        self._config = Config(
            ip_filter_enable=not allow_private,
            ip_filter_allow_loopback_ips=False,
            never_redirect=True,
            default_timeout=(CONNECT_TIMEOUT, 15.0),
            user_agent_override=USER_AGENT,
        )
        self._allow_private = allow_private
        self._allow_metadata = allow_metadata
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
            if self._allow_private and not self._allow_metadata:
                # The connect-time filter is off, yet metadata addresses stay refused.
                check_destination(request.url, allow_private=True)
            # Prepared without the session's merge of its own headers, cookies, auth and
            # hooks (none of which a delivery uses), which cost about a quarter of the
            # send; `send` still goes through the session's SSRF-guarding adapters.
            prepared = requests.Request(
                "POST",
                request.url,
                data=request.body,
                headers={**BASE_HEADERS, **_without_framing(request.headers)},
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
        except UNSENDABLE as exc:
            # requests' own words name the part it cannot send (bounded: never a body)
            return AttemptResult(error=f"cannot be sent: {str(exc)[:200]}", refused=True)
        except requests.RequestException as exc:
            failed = _failed(exc, request, connect_timeout)
            return AttemptResult(error=failed, response_time_ms=_ms(started))
        with response:
            excerpt, read_error = _read_excerpt(response, deadline)
            error = _failed(read_error, request, connect_timeout) if read_error else None
            if 300 <= response.status_code < 400:
                error = failures.redirect(response.headers.get("Location"))
            return AttemptResult(
                status_code=response.status_code,
                error=error,
                response_time_ms=_ms(started),
                body_excerpt=excerpt,
                retry_after=response.headers.get("Retry-After"),
            )


def _without_framing(headers: dict[str, str]) -> dict[str, str]:
    """An endpoint's headers saved before they were vetted may still carry framing ones."""
    return {k: v for k, v in headers.items() if k.lower() not in FRAMING_HEADERS}


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
