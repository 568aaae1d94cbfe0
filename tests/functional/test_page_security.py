"""The pages' session and headers: sign-in throttling, sign-out on the server, cookies, CSP."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from flask import Flask, session
from flask.testing import FlaskClient

from app.services.workspaces import create_workspace
from tests.support.pages import csrf, migrated_app


@pytest.fixture
def site(tmp_path: Path) -> tuple[Flask, str]:
    """The app (with the given limits) and a management token of a new workspace."""
    app, rt = migrated_app(
        tmp_path, HOOKRELAY_SIGN_IN_LIMIT="4/minute", HOOKRELAY_SIGN_IN_TOKEN_LIMIT="2/minute"
    )
    with rt.sessions.begin() as db:
        token = create_workspace(db, "t", "us").management_token
    return app, token


def sign_in(app: Flask, token: str, address: str = "192.0.2.1") -> tuple[FlaskClient, int]:
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = address
    form = {"token": token, "csrf_token": csrf(client, "/dashboard/login")}
    return client, client.post("/dashboard/login", data=form).status_code


def test_failed_sign_ins_are_throttled_per_address_and_per_token_prefix(
    site: tuple[Flask, str],
) -> None:
    app, token = site
    for n in range(2):  # two wrong tokens with the real token's prefix, from two addresses
        assert sign_in(app, token[:10] + "wrong", f"192.0.2.{10 + n}")[1] == 401
    assert sign_in(app, token, "192.0.2.20")[1] == 429  # that prefix is spent, wherever from

    for n in range(4):  # four wrong tokens from one address, each with its own prefix
        assert sign_in(app, f"nhm_{n}guess{n}", "198.51.100.7")[1] == 401
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = "198.51.100.7"
    form = {"token": "nhm_other", "csrf_token": csrf(client, "/dashboard/login")}
    refused = client.post("/dashboard/login", data=form)
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) >= 1
    assert "Too many failed sign-ins" in refused.get_data(as_text=True)  # a page, not JSON
    assert refused.mimetype == "text/html"


def test_signing_out_ends_a_copied_session_cookie(site: tuple[Flask, str]) -> None:
    app, token = site
    client, status = sign_in(app, token)
    assert status == 302
    captured = client.get_cookie("session")
    assert captured is not None
    assert client.get("/dashboard/").status_code == 200

    form = {"csrf_token": csrf(client, "/dashboard/")}
    assert client.post("/dashboard/logout", data=form).status_code == 302
    thief = app.test_client()
    thief.set_cookie("session", captured.value)
    replayed = thief.get("/dashboard/")
    assert replayed.status_code == 302 and "/dashboard/login" in replayed.headers["Location"]


def test_session_cookie_is_secure_when_the_public_url_is_https(tmp_path: Path) -> None:
    app, rt = migrated_app(tmp_path, HOOKRELAY_PUBLIC_URL="https://hooks.example.com")
    with rt.sessions.begin() as db:
        token = create_workspace(db, "t", "us").management_token
    client = app.test_client()
    https = {"base_url": "https://hooks.example.com"}
    form = {"token": token, "csrf_token": csrf(client, "/dashboard/login", **https)}
    signed_in = client.post("/dashboard/login", data=form, **https)
    assert signed_in.status_code == 302
    cookie = signed_in.headers["Set-Cookie"]
    assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie


@pytest.mark.parametrize("path", ["/dashboard/login", "/portal/"])
def test_pages_forbid_framing_and_run_under_a_content_policy(
    site: tuple[Flask, str], path: str
) -> None:
    app, _token = site
    page = app.test_client().get(path)
    assert page.headers["X-Frame-Options"] == "DENY"
    assert page.headers["X-Content-Type-Options"] == "nosniff"
    assert page.headers["Referrer-Policy"] == "same-origin"
    policy = page.headers["Content-Security-Policy"]
    assert "default-src 'none'" in policy and "frame-ancestors 'none'" in policy
    nonce = re.search(r"'nonce-([^']+)'", policy)
    assert nonce and f'<style nonce="{nonce.group(1)}">' in page.get_data(as_text=True)
    again = app.test_client().get(path).headers["Content-Security-Policy"]
    assert again != policy  # a fresh nonce per response


def test_behind_a_trusted_proxy_each_forwarded_client_has_its_own_allowance(
    tmp_path: Path,
) -> None:
    app, _rt = migrated_app(
        tmp_path, HOOKRELAY_SIGN_IN_LIMIT="1/minute", HOOKRELAY_TRUSTED_PROXIES="1"
    )

    def attempt(client_address: str) -> int:
        client = app.test_client()
        client.environ_base["REMOTE_ADDR"] = "10.0.0.1"  # the load balancer
        headers = {"X-Forwarded-For": client_address}
        form = {"token": f"nhm_{client_address}", "csrf_token": csrf(client, "/dashboard/login")}
        return client.post("/dashboard/login", data=form, headers=headers).status_code

    assert attempt("203.0.113.1") == 401
    assert attempt("203.0.113.1") == 429
    assert attempt("203.0.113.2") == 401  # another client behind the same proxy


def test_only_the_pages_open_the_session_cookie(site: tuple[Flask, str]) -> None:
    """The APIs authenticate by bearer token alone: a signed-in browser's cookie gives an
    API route nothing (and the API spends nothing reading it)."""
    app, token = site
    seen: dict[str, bool] = {}

    @app.get("/dashboard/test-only/session")
    def page_view() -> str:
        seen["page"] = bool(session)
        return ""

    @app.get("/api/test-only/session")
    def api_view() -> str:
        seen["api"] = bool(session)
        return ""

    client, status = sign_in(app, token)
    assert status in (302, 303)
    client.get("/dashboard/test-only/session")
    client.get("/api/test-only/session")
    assert seen == {"page": True, "api": False}
