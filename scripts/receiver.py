"""A local webhook receiver for trying hookrelay out: prints each delivery, verifies it if
WEBHOOK_SECRET is set. Usage: python scripts/receiver.py [PORT] [HOST]

HOST defaults to 127.0.0.1; in a container (compose.yaml's `receiver`) it is 0.0.0.0."""

from __future__ import annotations

import os
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from standardwebhooks import Webhook, WebhookVerificationError


class Handler(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        verdict = "unverified (set WEBHOOK_SECRET)"
        secret = os.environ.get("WEBHOOK_SECRET")
        if secret:
            try:
                Webhook(secret).verify(body, dict(self.headers))
                verdict = "signature verified"
            except WebhookVerificationError as exc:
                verdict = f"signature INVALID: {exc}"
        print(f"{self.headers.get('webhook-id')} {verdict}: {body.decode()}", flush=True)
        self.send_response(200)
        self.end_headers()

    def log_message(self, *_args: object) -> None:
        pass


if __name__ == "__main__":
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 9000
    host = sys.argv[2] if len(sys.argv) > 2 else "127.0.0.1"
    print(f"receiving on http://{host}:{port}/", flush=True)
    ThreadingHTTPServer((host, port), Handler).serve_forever()
