"""A local webhook receiver for trying hookrelay out: prints one line per delivery and verifies
its signature with the secrets it is given.

Usage: python scripts/receiver.py [PORT] [HOST] [--secret whsec_...]... [--secrets-file FILE]

Give `--secret` once per endpoint, or keep one secret per line in `--secrets-file`: the file is
read again whenever it changes, so endpoints created while the receiver runs can be added to
it. `WEBHOOK_SECRET` in the environment counts as one more `--secret`. HOST defaults to
127.0.0.1; in a container (compose.yaml's `receiver`) it is 0.0.0.0.
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from standardwebhooks import Webhook, WebhookVerificationError

# Deliveries arrive on many threads at once; one line is written whole before the next.
print_lock = threading.Lock()


def say(line: str) -> None:
    with print_lock:
        sys.stdout.write(line + "\n")
        sys.stdout.flush()


class Secrets:
    """The secrets to verify with: those given on the command line and those in the file."""

    def __init__(self, given: list[str], file: Path | None) -> None:
        self.given, self.file = given, file
        self._lock = threading.Lock()
        self._read: tuple[float, list[str]] = (-1.0, [])

    def current(self) -> list[str]:
        """The given secrets and the file's, read again whenever the file changes."""
        if self.file is None or not self.file.exists():
            return self.given
        changed = self.file.stat().st_mtime
        with self._lock:
            if changed != self._read[0]:
                self._read = (changed, self.file.read_text().split())
            return [*self.given, *self._read[1]]

    def verdict(self, body: bytes, headers: dict[str, str]) -> str:
        secrets = self.current()
        if not secrets:
            return "unverified (give --secret or --secrets-file)"
        for secret in secrets:
            try:
                Webhook(secret).verify(body, headers)
            except WebhookVerificationError:
                continue
            return "signature verified"
        return f"signature INVALID for all {len(secrets)} secrets"


class Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128  # a worker sends up to 64 at once; the default 5 would reset them


def handler(secrets: Secrets) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            verdict = secrets.verdict(body, dict(self.headers))
            say(f"{self.headers.get('webhook-id')} {verdict}: {body.decode(errors='replace')}")
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *_args: object) -> None:
            pass

    return Handler


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Print and verify the webhooks hookrelay sends.")
    parser.add_argument("port", nargs="?", type=int, default=9000)
    parser.add_argument("host", nargs="?", default="127.0.0.1")
    parser.add_argument("--secret", action="append", default=[], help="an endpoint's whsec_...")
    parser.add_argument("--secrets-file", type=Path, help="one secret per line, read per delivery")
    args = parser.parse_args(argv)
    given = [*args.secret, *filter(None, [os.environ.get("WEBHOOK_SECRET")])]
    server = Server((args.host, args.port), handler(Secrets(given, args.secrets_file)))
    say(f"receiving on http://{args.host}:{args.port}/")
    server.serve_forever()


if __name__ == "__main__":
    main()
