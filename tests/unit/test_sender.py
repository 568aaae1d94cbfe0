"""The outbound client against a real receiver on 127.0.0.1: SSRF guard, redirects, bounds."""

from __future__ import annotations

import ssl
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import trustme

from app.config import DEFAULT_RETRY_SCHEDULE
from app.retry import decide
from app.sender import (
    EXCERPT_BYTES,
    DestinationRefused,
    OutboundRequest,
    Sender,
    check_destination,
    is_forbidden_address,
)
from tests.support.receiver import Receiver


@pytest.fixture(scope="module")
def local() -> Iterator[Receiver]:
    server = Receiver().start()
    yield server
    server.stop()


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "10.1.2.3",
        "172.16.0.1",
        "192.168.1.1",
        "169.254.169.254",
        "100.64.0.1",
        "0.0.0.0",
        "::1",
        "fe80::1",
        "fd00::1",
        "::ffff:127.0.0.1",
        "::ffff:169.254.169.254",
        "224.0.0.1",
    ],
)
def test_private_and_metadata_addresses_are_forbidden(address: str) -> None:
    assert is_forbidden_address(address)


@pytest.mark.parametrize("address", ["93.184.216.34", "2606:4700::1111", "8.8.8.8"])
def test_public_addresses_are_allowed(address: str) -> None:
    assert not is_forbidden_address(address)


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/x",
        "http://localhost:8080/",
        "http://[::1]/",
        "http://169.254.169.254/",
        "http://10.0.0.5/hook",
        "ftp://example.com/",
        "not a url",
    ],
)
def test_endpoint_urls_to_forbidden_places_are_refused(url: str) -> None:
    with pytest.raises(DestinationRefused):
        check_destination(url, allow_private=False)


def test_allowing_private_lifts_the_address_check_but_not_the_scheme_check() -> None:
    check_destination("http://127.0.0.1/x", allow_private=True)
    with pytest.raises(DestinationRefused):
        check_destination("file:///etc/passwd", allow_private=True)


def test_send_time_check_refuses_loopback(local: Receiver) -> None:
    result = Sender(allow_private=False).send(OutboundRequest(local.url("nope"), b"{}"))
    assert result.refused and result.status_code is None
    assert "destination refused" in (result.error or "")
    assert local.received("nope") == []


def test_redirects_are_not_followed(local: Receiver) -> None:
    target = local.url("redirect-target")
    result = Sender(allow_private=True).send(
        OutboundRequest(local.url("redirecting", redirect=target), b"{}")
    )
    assert result.status_code == 302 and not result.succeeded
    assert result.error == f"redirect to {target} not followed"
    assert local.received("redirect-target") == []


def test_large_response_bodies_are_cut_to_the_excerpt(local: Receiver) -> None:
    result = Sender(allow_private=True).send(
        OutboundRequest(local.url("big", big=5_000_000), b"{}")
    )
    assert result.status_code == 200
    assert result.body_excerpt is not None and len(result.body_excerpt) == EXCERPT_BYTES


def test_a_hanging_receiver_is_cut_at_the_timeout(local: Receiver) -> None:
    started = time.monotonic()
    result = Sender(allow_private=True).send(
        OutboundRequest(local.url("hang", sleep=5), b"{}", timeout=0.5)
    )
    assert result.error == "timed out after 0.5 s"
    assert time.monotonic() - started < 2


def test_a_body_that_stalls_is_cut_at_the_timeout(local: Receiver) -> None:
    result = Sender(allow_private=True).send(
        OutboundRequest(local.url("stall", stall=5), b"{}", timeout=0.5)
    )
    assert result.status_code == 200
    assert result.error == "timed out after 0.5 s"


def test_connection_refused_is_a_retryable_failure() -> None:
    result = Sender(allow_private=True).send(OutboundRequest("http://127.0.0.1:9/", b"{}"))
    assert result.status_code is None and not result.refused
    assert result.error == "connection refused"


@pytest.mark.parametrize(
    ("behaviour", "error"),
    [({"reset": 1}, "connection reset"), ({"huge_header": 1}, "response too large")],
)
def test_a_failed_attempt_says_why_in_a_few_words(
    local: Receiver, behaviour: dict[str, object], error: str
) -> None:
    result = Sender(allow_private=True).send(OutboundRequest(local.url("why", **behaviour), b"{}"))
    assert result.status_code is None and not result.refused
    assert result.error == error


def test_an_unknown_host_is_a_failed_dns_lookup() -> None:
    result = Sender(allow_private=True).send(
        OutboundRequest("http://no-such-host.invalid/hook", b"{}")
    )
    assert result.error == "DNS lookup failed for no-such-host.invalid"


@pytest.fixture(scope="module")
def untrusted_tls() -> Iterator[str]:
    """An HTTPS server on 127.0.0.1 whose certificate no public CA signed."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    trustme.CA().issue_cert("127.0.0.1").configure_cert(context)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.send_response(200)
            self.end_headers()

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"https://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


def test_an_untrusted_certificate_is_named(untrusted_tls: str) -> None:
    result = Sender(allow_private=True).send(OutboundRequest(untrusted_tls, b"{}"))
    assert result.status_code is None
    assert result.error == "TLS certificate not trusted"


def test_the_raw_cause_goes_to_the_log_without_the_url(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level("INFO", logger="hookrelay.sender"):
        Sender(allow_private=True).send(OutboundRequest("http://127.0.0.1:9/a?token=s3", b"{}"))
    [line] = caplog.messages
    assert "ConnectionRefusedError" in line and "Connection refused" in line
    assert "token" not in line


def test_proxies_from_the_environment_are_not_used(
    local: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A proxy would connect on the sender's behalf, out of the private-address guard's sight.
    for name in ("HTTP_PROXY", "http_proxy", "ALL_PROXY"):
        monkeypatch.setenv(name, "http://127.0.0.1:9")  # nothing listens there
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)

    result = Sender(allow_private=True).send(OutboundRequest(local.url("direct"), b"{}"))

    assert result.status_code == 200 and result.error is None


def test_an_attempt_sends_its_headers_and_no_cookie_a_receiver_set(local: Receiver) -> None:
    sender = Sender(allow_private=True)
    first = sender.send(
        OutboundRequest(local.url("cookies", cookie="session=abc"), b"{}", {"X-A": "1"})
    )
    second = sender.send(OutboundRequest(local.url("cookies"), b"{}", {"X-A": "2"}))

    assert first.status_code == second.status_code == 200
    sent = [r.headers for r in local.received("cookies")]
    assert [h["X-A"] for h in sent] == ["1", "2"]
    assert all(h["User-Agent"] == "hookrelay/0.1" for h in sent)
    assert all("Cookie" not in h for h in sent)


@pytest.mark.parametrize(
    "url",
    [
        "http://[2002:7f00:1::]/hook",  # 6to4 of 127.0.0.1
        "http://[64:ff9b::7f00:1]/hook",  # NAT64 of 127.0.0.1
        "http://[::ffff:7f00:1]/hook",  # IPv4-mapped 127.0.0.1
        "http://127.0.0.1:8999\\@example.com/",  # urllib3 connects to 127.0.0.1
    ],
)
def test_transition_forms_and_parser_confusion_are_refused_when_saved(url: str) -> None:
    with pytest.raises(DestinationRefused):
        check_destination(url, allow_private=False)


FULL_WIDTH = "http://\uff11\uff12\uff17.0.0.1/"  # full-width digits: no valid IDNA name


@pytest.mark.parametrize(
    "url",
    [FULL_WIDTH, "http://example.com:99999/", "http://example.com:-1/", "http://[::1/"],
)
def test_unparseable_urls_are_refused_even_with_private_destinations(url: str) -> None:
    with pytest.raises(DestinationRefused, match="cannot be parsed"):
        check_destination(url, allow_private=True)


METADATA_URLS = [
    "http://169.254.169.254/latest/meta-data/",
    "http://2852039166/",  # decimal
    "http://0xa9fea9fe/",  # hex
    "http://0251.0376.0251.0376/",  # octal
    "http://[::ffff:169.254.169.254]/",  # IPv4-mapped
    "http://[::ffff:a9fe:a9fe]/",
    "http://[2002:a9fe:a9fe::]/",  # 6to4
    "http://[64:ff9b::a9fe:a9fe]/",  # NAT64
    "http://[fd00:ec2::254]/",
]


@pytest.mark.parametrize("url", METADATA_URLS)
def test_metadata_addresses_are_refused_even_with_private_destinations(url: str) -> None:
    with pytest.raises(DestinationRefused, match="metadata"):
        check_destination(url, allow_private=True)
    check_destination(url, allow_private=True, allow_metadata=True)


@pytest.mark.parametrize("url", METADATA_URLS[:3])
def test_metadata_addresses_are_refused_at_send_time(url: str) -> None:
    result = Sender(allow_private=True).send(OutboundRequest(url, b"{}", timeout=0.5))
    assert result.refused and "metadata" in (result.error or "")


@pytest.mark.parametrize(
    ("url", "headers"),
    [
        (FULL_WIDTH, {}),
        ("http://127.0.0.1:99999/", {}),
        ("http://127.0.0.1:9/", {"X-Bad": "a\r\nInjected: 1"}),
        ("http://127.0.0.1:9/", {"": "empty name"}),
    ],
)
def test_what_can_never_be_sent_fails_the_delivery_at_once(
    url: str, headers: dict[str, str]
) -> None:
    result = Sender(allow_private=True).send(OutboundRequest(url, b"{}", headers))
    assert result.refused and result.error
    decision = decide(result, 1, DEFAULT_RETRY_SCHEDULE, datetime.now(UTC))
    assert decision.status == "failed"


def test_framing_headers_saved_before_vetting_are_not_sent(local: Receiver) -> None:
    headers = {"Transfer-Encoding": "chunked", "host": "internal.example", "X-Kept": "1"}
    result = Sender(allow_private=True).send(OutboundRequest(local.url("framing"), b"{}", headers))

    assert result.status_code == 200
    [sent] = [r.headers for r in local.received("framing")]
    assert "Transfer-Encoding" not in sent and sent["Content-Length"] == "2"
    assert sent["Host"].startswith("127.0.0.1") and sent["X-Kept"] == "1"
