"""Settings from the environment."""

from __future__ import annotations

import pytest

from app.config import ConfigError, Settings


def test_embedded_default_needs_no_servers() -> None:
    settings = Settings.from_env({})
    assert settings.database_url == "sqlite:///var/hookrelay.db"
    assert settings.broker_url == "sqla+sqlite:///var/broker.db"
    assert settings.allow_private_destinations is False
    assert settings.max_payload_bytes == 256 * 1024
    assert settings.embedded


@pytest.mark.parametrize("url", ["postgres://u:p@db:5432/x", "postgresql://u:p@db:5432/x"])
def test_platform_database_urls_use_psycopg3(url: str) -> None:
    settings = Settings.from_env({"DATABASE_URL": url})
    assert settings.database_url == "postgresql+psycopg://u:p@db:5432/x"


def test_retry_schedule_and_flags() -> None:
    settings = Settings.from_env(
        {
            "HOOKRELAY_RETRY_SCHEDULE": "1,1,1",
            "HOOKRELAY_ALLOW_PRIVATE_DESTINATIONS": "yes",
            "HOOKRELAY_MAX_PAYLOAD_BYTES": "1024",
            "PORT": "5001",
        }
    )
    assert settings.retry_schedule == (1.0, 1.0, 1.0)
    assert settings.allow_private_destinations is True
    assert settings.max_payload_bytes == 1024
    assert settings.port == 5001


@pytest.mark.parametrize(
    "env",
    [
        {"HOOKRELAY_RETRY_SCHEDULE": "1,soon"},
        {"HOOKRELAY_RETRY_SCHEDULE": "-1"},
        {"HOOKRELAY_ALLOW_PRIVATE_DESTINATIONS": "maybe"},
        {"PORT": "eighty"},
        {"HOOKRELAY_REGION": "USA"},
        {"HOOKRELAY_DELIVERY_TIMEOUT": "30", "HOOKRELAY_LEASE_SECONDS": "20"},
    ],
)
def test_bad_values_fail_fast(env: dict[str, str]) -> None:
    with pytest.raises(ConfigError):
        Settings.from_env(env)


def test_rate_limits_default_to_the_seed_and_can_be_changed() -> None:
    default = Settings.from_env({})
    changed = Settings.from_env(
        {
            "HOOKRELAY_RATE_LIMIT_STORAGE": "redis://cache:6379/1",
            "HOOKRELAY_INGEST_LIMIT": "10/second",
            "HOOKRELAY_INGEST_KEY_LIMIT": "",
            "HOOKRELAY_BATCH_BURST": "3",
            "HOOKRELAY_BATCH_MAX_WAIT": "0",
        }
    )
    assert default.rate_limit_storage == "memory://"
    assert (default.batch_burst, default.batch_rate, default.batch_queue) == (500, 1.0, 100)
    assert default.batch_max_wait == 5.0
    assert changed.rate_limit_storage == "redis://cache:6379/1"
    assert changed.ingest_workspace_limit == "10/second"
    assert changed.ingest_key_limit is None  # empty turns the limit off
    assert (changed.batch_burst, changed.batch_max_wait) == (3, 0.0)


@pytest.mark.parametrize(
    "env",
    [
        {"HOOKRELAY_INGEST_LIMIT": "lots"},
        {"HOOKRELAY_MANAGEMENT_LIMIT": "10 per fortnight"},
        {"HOOKRELAY_BATCH_RATE": "0"},
        {"HOOKRELAY_BATCH_BURST": "-1"},
    ],
)
def test_bad_rate_limits_fail_fast(env: dict[str, str]) -> None:
    with pytest.raises(ConfigError):
        Settings.from_env(env)


def test_public_url_sets_secure_cookies_when_https() -> None:
    settings = Settings.from_env({"HOOKRELAY_PUBLIC_URL": "https://hooks.example.com/"})
    assert settings.public_url == "https://hooks.example.com"
    assert settings.secure_cookies is True
    plain = Settings.from_env({"HOOKRELAY_PUBLIC_URL": "http://localhost:8000"})
    assert plain.secure_cookies is False
    forced = {"HOOKRELAY_PUBLIC_URL": "http://x.io", "HOOKRELAY_SECURE_COOKIES": "true"}
    assert Settings.from_env(forced).secure_cookies is True
    assert Settings.from_env({}).secure_cookies is False


@pytest.mark.parametrize("raw", ["hooks.example.com", "ftp://x.io", "https://x.io/?a=1"])
def test_public_url_must_be_an_http_base(raw: str) -> None:
    with pytest.raises(ConfigError, match="HOOKRELAY_PUBLIC_URL"):
        Settings.from_env({"HOOKRELAY_PUBLIC_URL": raw})


def test_public_url_is_required_outside_the_embedded_default() -> None:
    production = {"DATABASE_URL": "postgresql://u@db/x"}
    with pytest.raises(ConfigError, match="HOOKRELAY_PUBLIC_URL"):
        Settings.from_env(production).web_public_url()
    assert Settings.from_env({}).web_public_url() is None  # embedded: the request's host
