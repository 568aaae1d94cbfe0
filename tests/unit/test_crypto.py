"""Encryption at rest: round trip, key rotation, wrong keys, and the embedded key file."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from app import crypto
from app.config import ConfigError, Settings


@pytest.fixture(autouse=True)
def restore_keyring() -> Iterator[None]:
    saved = crypto._keyring
    yield
    crypto._keyring = saved


def test_round_trip_never_stores_plaintext() -> None:
    crypto.configure([Fernet.generate_key().decode()])
    stored = crypto.encrypt("whsec_abc")
    assert stored.startswith(crypto.PREFIX) and "whsec_abc" not in stored
    assert crypto.decrypt(stored) == "whsec_abc"


def test_rotation_old_values_still_decrypt_and_reencrypt_under_the_new_key() -> None:
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    crypto.configure([old])
    stored = crypto.encrypt("s3cret")
    crypto.configure([new, old])
    assert crypto.decrypt(stored) == "s3cret"
    rotated = crypto.reencrypt(stored)
    crypto.configure([new])
    assert crypto.decrypt(rotated) == "s3cret"
    with pytest.raises(ValueError, match="no configured key"):
        crypto.decrypt(stored)


def test_plaintext_in_an_encrypted_column_is_an_error() -> None:
    crypto.configure([Fernet.generate_key().decode()])
    with pytest.raises(ValueError, match="not encrypted"):
        crypto.decrypt("whsec_plain")


def test_malformed_key_fails_fast() -> None:
    with pytest.raises(ConfigError):
        crypto.configure(["not-a-key"])


def test_embedded_default_generates_a_private_key_file(tmp_path: Path) -> None:
    settings = Settings.from_env({"HOOKRELAY_DATA_DIR": str(tmp_path)})
    [key] = crypto.load_keys(settings)
    assert crypto.load_keys(settings) == [key]  # persisted, not regenerated
    assert (tmp_path / "encryption.key").stat().st_mode & 0o777 == 0o600


def test_postgresql_requires_configured_keys() -> None:
    with pytest.raises(ConfigError, match="HOOKRELAY_ENCRYPTION_KEYS"):
        crypto.load_keys(Settings.from_env({"DATABASE_URL": "postgresql://db/x"}))
