"""Security headers of the pages: no framing, a content policy they work under, no sniffing.

The pages run no script at all. Their one `<style>` element carries a per-response nonce;
a few templates set `style` attributes, which a nonce cannot cover, so attributes stay
allowed (they cannot load anything: images come only from this site).
"""

from __future__ import annotations

import secrets

from flask import Flask, g, request
from werkzeug.wrappers import Response

from app.web.csrf import PAGE_PREFIXES


def csp_nonce() -> str:
    """This response's nonce; the layout's `<style>` element carries it."""
    if "csp_nonce" not in g:
        g.csp_nonce = secrets.token_urlsafe(16)
    return str(g.csp_nonce)


def content_policy(nonce: str) -> str:
    return "; ".join(
        (
            "default-src 'none'",
            f"style-src 'nonce-{nonce}'",
            "style-src-attr 'unsafe-inline'",
            "img-src 'self' data:",
            "form-action 'self'",
            "frame-ancestors 'none'",
            "base-uri 'none'",
        )
    )


def register(app: Flask) -> None:
    app.jinja_env.globals["csp_nonce"] = csp_nonce

    @app.after_request
    def _secure(response: Response) -> Response:
        # Only the pages: the JSON APIs render nothing and stay as lean as they are.
        if request.path.startswith(PAGE_PREFIXES):
            response.headers["Content-Security-Policy"] = content_policy(csp_nonce())
            response.headers["X-Frame-Options"] = "DENY"
            response.headers["X-Content-Type-Options"] = "nosniff"
            response.headers["Referrer-Policy"] = "same-origin"
            response.headers["Cache-Control"] = "no-store"  # no signed-in page in a shared cache
        return response
