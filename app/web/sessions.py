"""The signed-cookie session, opened for the pages only.

The APIs authenticate every request by its bearer token and never read the cookie, yet
Flask opened it on each request: building its signer cost about 4 % of a single send's CPU.
Elsewhere the session is Flask's null session, which holds nothing and sets no cookie.
"""

from __future__ import annotations

from flask import Flask, Request
from flask.sessions import SecureCookieSession, SecureCookieSessionInterface

from app.web.csrf import PAGE_PREFIXES


class PageSessions(SecureCookieSessionInterface):
    def open_session(self, app: Flask, request: Request) -> SecureCookieSession | None:
        if not request.path.startswith(PAGE_PREFIXES):
            return None  # Flask then makes the null session
        return super().open_session(app, request)
