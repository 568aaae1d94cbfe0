"""Encryption at rest for endpoint signing secrets, basic-auth passwords and header values.

Fernet (AES-128-CBC + HMAC-SHA256, from `cryptography`) under keys from
HOOKRELAY_ENCRYPTION_KEYS: the first key encrypts, every key decrypts, so a key is rotated by
putting a new one first, re-encrypting (`flask --app app rotate-encryption-key`), then dropping
the old one. The embedded default generates a key file under the data directory; with any
other database the variable is required, so production never runs on a key it did not choose.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from sqlalchemy import JSON, Text
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator

from app.config import ConfigError, Settings

PREFIX = "fernet:"
_keyring: MultiFernet | None = None


def load_keys(settings: Settings) -> list[str]:
    """The configured keys, or the embedded default's key file (created on first use)."""
    if settings.encryption_keys:
        return list(settings.encryption_keys)
    if not settings.embedded:
        raise ConfigError("HOOKRELAY_ENCRYPTION_KEYS is required outside the embedded default")
    path = Path(settings.data_dir) / "encryption.key"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(Fernet.generate_key().decode())
    return [path.read_text().strip()]


def configure(keys: Sequence[str]) -> None:
    """Install the process's keyring; fails fast on a malformed key."""
    global _keyring
    try:
        _keyring = MultiFernet([Fernet(key.encode()) for key in keys])
    except ValueError as exc:
        raise ConfigError("HOOKRELAY_ENCRYPTION_KEYS holds a malformed Fernet key") from exc


def _ring() -> MultiFernet:
    if _keyring is None:
        configure(load_keys(Settings.from_env()))
    assert _keyring is not None
    return _keyring


def encrypt(plaintext: str) -> str:
    return PREFIX + _ring().encrypt(plaintext.encode()).decode()


def decrypt(stored: str) -> str:
    if not stored.startswith(PREFIX):
        raise ValueError("stored value is not encrypted")
    try:
        return _ring().decrypt(stored[len(PREFIX) :].encode()).decode()
    except InvalidToken as exc:
        raise ValueError("no configured key decrypts this value") from exc


def reencrypt(stored: str) -> str:
    """Encrypt again under the first key (for key rotation)."""
    return PREFIX + _ring().rotate(stored[len(PREFIX) :].encode()).decode()


class EncryptedText(TypeDecorator[str]):
    """A string column stored encrypted; the application only ever sees plaintext."""

    impl = Text
    cache_ok = True

    def process_bind_param(self, value: str | None, dialect: Dialect) -> str | None:
        return None if value is None else encrypt(value)

    def process_result_value(self, value: str | None, dialect: Dialect) -> str | None:
        return None if value is None else decrypt(value)


def map_header_values(config: Any, transform: Callable[[str], str]) -> Any:
    """`config` with `transform` applied to each value of its `headers` mapping."""
    if not isinstance(config, dict) or not isinstance(config.get("headers"), dict):
        return config
    headers = {name: transform(str(value)) for name, value in config["headers"].items()}
    return {**config, "headers": headers}


class EncryptedHeaders(TypeDecorator[dict[str, Any]]):
    """An endpoint's JSON `config` whose `headers` values are stored encrypted.

    Header values carry receivers' API keys as often as basic auth does; the names and the
    rest of the config stay readable.
    """

    impl = JSON
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        return map_header_values(value, encrypt)

    def process_result_value(self, value: Any, dialect: Dialect) -> Any:
        return map_header_values(value, decrypt)
