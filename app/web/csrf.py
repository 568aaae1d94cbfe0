"""CSRF protection for the pages' forms: a random token per session, checked on every POST."""

from __future__ import annotations

import hmac
import secrets

from flask import Flask, abort, request, session

FIELD = "csrf_token"
PAGE_PREFIXES = ("/dashboard", "/portal")


def token() -> str:
    """This session's token, created on first use; templates put it in every form."""
    if FIELD not in session:
        session[FIELD] = secrets.token_urlsafe(32)
    return str(session[FIELD])


def register(app: Flask) -> None:
    app.jinja_env.globals["csrf_token"] = token

    @app.before_request
    def _check() -> None:
        # The JSON APIs take bearer tokens, never cookies, so only the pages need the check.
        if request.method != "POST" or not request.path.startswith(PAGE_PREFIXES):
            return
        sent = request.form.get(FIELD, "")
        expected = session.get(FIELD, "")
        if not expected or not hmac.compare_digest(str(sent), str(expected)):
            abort(400, "the form expired; reload the page and try again")
