"""Settings: every environment variable mapped once, typed, with its default."""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

# About a day in total, growing quickly at first: a blip is retried within seconds, an outage
# of hours still gets a delivery once the endpoint returns (Svix uses a similar ladder).
DEFAULT_RETRY_SCHEDULE: tuple[float, ...] = (5, 300, 1800, 7200, 18000, 36000, 36000)
DEFAULT_DATA_DIR = "var"


class ConfigError(ValueError):
    """A setting has a value hookrelay cannot use."""


def normalize_database_url(url: str) -> str:
    """Map the `postgres://` and `postgresql://` forms platforms hand out to psycopg 3."""
    for prefix in ("postgres://", "postgresql://", "postgresql+psycopg2://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def parse_retry_schedule(raw: str) -> tuple[float, ...]:
    """Parse `1,1,1` (seconds before each retry) into a tuple; empty means no retries."""
    if not raw.strip():
        return ()
    try:
        delays = tuple(float(part) for part in raw.split(","))
    except ValueError as exc:
        raise ConfigError(
            f"HOOKRELAY_RETRY_SCHEDULE must be comma-separated seconds: {raw!r}"
        ) from exc
    if any(delay < 0 for delay in delays):
        raise ConfigError("HOOKRELAY_RETRY_SCHEDULE must not hold negative delays")
    return delays


def _bool(raw: str | None, default: bool) -> bool:
    if raw is None or raw == "":
        return default
    value = raw.strip().lower()
    if value in {"1", "true", "yes", "on"}:
        return True
    if value in {"0", "false", "no", "off"}:
        return False
    raise ConfigError(f"not a boolean: {raw!r}")


def parse_limit(name: str, raw: str) -> str | None:
    """Check a `limits` rate string such as `100/second`; empty disables the limit."""
    from limits import parse_many

    if not raw.strip():
        return None
    try:
        parse_many(raw)
    except ValueError as exc:
        raise ConfigError(f"{name} must be a rate such as 100/second: {raw!r}") from exc
    return raw


def parse_public_url(raw: str) -> str | None:
    """Check HOOKRELAY_PUBLIC_URL (`https://hooks.example.com`); empty means unset."""
    url = raw.strip().rstrip("/")
    if not url:
        return None
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.query:
        raise ConfigError(f"HOOKRELAY_PUBLIC_URL must be an http(s) base URL: {raw!r}")
    return url


def _number(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name, "")
    if raw == "":
        return default
    try:
        return float(raw)
    except ValueError as exc:
        raise ConfigError(f"{name} must be a number: {raw!r}") from exc


def _limit(env: Mapping[str, str], name: str, default: str) -> str | None:
    return parse_limit(name, env[name]) if name in env else default


def _positive(env: Mapping[str, str], name: str, default: float) -> float:
    value = _number(env, name, default)
    if value <= 0:
        raise ConfigError(f"{name} must be positive")
    return value


def _bounded_int(env: Mapping[str, str], name: str, default: int) -> int:
    value = _number(env, name, default)
    if value != int(value) or not 1 <= value <= 1000:
        raise ConfigError(f"{name} must be a whole number from 1 to 1000")
    return int(value)


@dataclass(frozen=True)
class Settings:
    """The whole configuration of one hookrelay process."""

    database_url: str
    broker_url: str
    port: int = 8000
    retry_schedule: tuple[float, ...] = DEFAULT_RETRY_SCHEDULE
    allow_private_destinations: bool = False
    allow_metadata_destinations: bool = False
    max_payload_bytes: int = 256 * 1024
    delivery_timeout: float = 15.0
    ingest_timeout: float = 5.0
    scheduler_interval: float = 1.0
    requeue_after: float = 60.0
    lease_seconds: float = 60.0
    queue_name: str = "hookrelay"
    region: str = "us"
    data_dir: Path = field(default_factory=lambda: Path(DEFAULT_DATA_DIR))
    rate_limit_storage: str = "memory://"
    ingest_workspace_limit: str | None = "1000/second"
    ingest_key_limit: str | None = "500/second"
    management_limit: str | None = "100/second"
    batch_burst: int = 500
    batch_rate: float = 1.0
    batch_queue: int = 100
    batch_max_wait: float = 5.0
    retention_days: float = 30.0
    purge_interval: float = 3600.0
    worker_metrics_port: int = 0
    endpoint_max_in_flight: int = 32
    circuit_failures: int = 10
    circuit_cooldown: float = 30.0
    circuit_cooldown_max: float = 1800.0
    disable_after: float = 5 * 86400.0
    secret_key: str | None = field(default=None, repr=False)
    encryption_keys: tuple[str, ...] = ()
    public_url: str | None = None
    secure_cookies: bool = False
    sign_in_limit: str | None = "10/minute"
    sign_in_token_limit: str | None = "5/minute"
    trusted_proxies: int = 0

    @property
    def retry_queue_name(self) -> str:
        """The second lane: retries, so first attempts never wait behind a storm of them."""
        return f"{self.queue_name}.retries"

    @property
    def embedded(self) -> bool:
        """True on the serverless default: SQLite and the SQLAlchemy broker transport."""
        return self.database_url.startswith("sqlite")

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Read the settings from the environment (12-factor)."""
        env = os.environ if env is None else env
        data_dir = Path(env.get("HOOKRELAY_DATA_DIR") or DEFAULT_DATA_DIR)
        database_url = normalize_database_url(
            env.get("DATABASE_URL") or f"sqlite:///{data_dir / 'hookrelay.db'}"
        )
        broker_url = env.get("BROKER_URL") or f"sqla+sqlite:///{data_dir / 'broker.db'}"
        region = env.get("HOOKRELAY_REGION") or "us"
        if len(region) != 2 or not region.isalpha() or not region.islower():
            raise ConfigError("HOOKRELAY_REGION must be two lowercase letters")
        delivery_timeout = _number(env, "HOOKRELAY_DELIVERY_TIMEOUT", 15.0)
        lease_seconds = _number(env, "HOOKRELAY_LEASE_SECONDS", max(60.0, delivery_timeout + 30))
        if lease_seconds < delivery_timeout + 2:
            # A lease shorter than an attempt would let a second worker send in parallel.
            raise ConfigError("HOOKRELAY_LEASE_SECONDS must exceed HOOKRELAY_DELIVERY_TIMEOUT + 2")
        public_url = parse_public_url(env.get("HOOKRELAY_PUBLIC_URL", ""))
        return cls(
            database_url=database_url,
            broker_url=broker_url,
            port=int(_number(env, "PORT", 8000)),
            retry_schedule=parse_retry_schedule(env["HOOKRELAY_RETRY_SCHEDULE"])
            if "HOOKRELAY_RETRY_SCHEDULE" in env
            else DEFAULT_RETRY_SCHEDULE,
            allow_private_destinations=_bool(
                env.get("HOOKRELAY_ALLOW_PRIVATE_DESTINATIONS"), default=False
            ),
            allow_metadata_destinations=_bool(
                env.get("HOOKRELAY_ALLOW_METADATA_DESTINATIONS"), default=False
            ),
            max_payload_bytes=int(_number(env, "HOOKRELAY_MAX_PAYLOAD_BYTES", 256 * 1024)),
            delivery_timeout=delivery_timeout,
            lease_seconds=lease_seconds,
            ingest_timeout=_number(env, "HOOKRELAY_INGEST_TIMEOUT", 5.0),
            scheduler_interval=_number(env, "HOOKRELAY_SCHEDULER_INTERVAL", 1.0),
            requeue_after=_number(env, "HOOKRELAY_REQUEUE_AFTER", 60.0),
            queue_name=env.get("HOOKRELAY_QUEUE") or "hookrelay",
            region=region,
            data_dir=data_dir,
            rate_limit_storage=env.get("HOOKRELAY_RATE_LIMIT_STORAGE") or "memory://",
            ingest_workspace_limit=_limit(env, "HOOKRELAY_INGEST_LIMIT", "1000/second"),
            ingest_key_limit=_limit(env, "HOOKRELAY_INGEST_KEY_LIMIT", "500/second"),
            management_limit=_limit(env, "HOOKRELAY_MANAGEMENT_LIMIT", "100/second"),
            batch_burst=int(_positive(env, "HOOKRELAY_BATCH_BURST", 500)),
            batch_rate=_positive(env, "HOOKRELAY_BATCH_RATE", 1.0),
            batch_queue=int(_number(env, "HOOKRELAY_BATCH_QUEUE", 100)),
            batch_max_wait=_number(env, "HOOKRELAY_BATCH_MAX_WAIT", 5.0),
            retention_days=_positive(env, "HOOKRELAY_RETENTION_DAYS", 30.0),
            purge_interval=_positive(env, "HOOKRELAY_PURGE_INTERVAL", 3600.0),
            worker_metrics_port=int(_number(env, "HOOKRELAY_WORKER_METRICS_PORT", 0)),
            endpoint_max_in_flight=_bounded_int(env, "HOOKRELAY_ENDPOINT_MAX_IN_FLIGHT", 32),
            circuit_failures=_bounded_int(env, "HOOKRELAY_CIRCUIT_FAILURES", 10),
            circuit_cooldown=_positive(env, "HOOKRELAY_CIRCUIT_COOLDOWN", 30.0),
            circuit_cooldown_max=_positive(env, "HOOKRELAY_CIRCUIT_COOLDOWN_MAX", 1800.0),
            disable_after=_positive(env, "HOOKRELAY_DISABLE_AFTER", 5 * 86400.0),
            secret_key=env.get("HOOKRELAY_SECRET_KEY") or env.get("SECRET_KEY") or None,
            encryption_keys=tuple(
                key.strip()
                for key in env.get("HOOKRELAY_ENCRYPTION_KEYS", "").split(",")
                if key.strip()
            ),
            public_url=public_url,
            # A site served over https must never send its session cookie in the clear.
            secure_cookies=_bool(
                env.get("HOOKRELAY_SECURE_COOKIES"),
                default=bool(public_url and public_url.startswith("https://")),
            ),
            sign_in_limit=_limit(env, "HOOKRELAY_SIGN_IN_LIMIT", "10/minute"),
            sign_in_token_limit=_limit(env, "HOOKRELAY_SIGN_IN_TOKEN_LIMIT", "5/minute"),
            trusted_proxies=int(_number(env, "HOOKRELAY_TRUSTED_PROXIES", 0)),
        )

    def web_public_url(self) -> str | None:
        """The base URL links to this site are built from; None: the request's own host.

        Required outside the embedded default: a link built from the `Host` header of the
        request that asked for it points wherever that header says, and a portal link carries
        a code that opens the portal.
        """
        if self.public_url is None and not self.embedded:
            raise ConfigError("HOOKRELAY_PUBLIC_URL is required outside the embedded default")
        return self.public_url

    def web_secret_key(self) -> str:
        """The key that signs the dashboard's session cookie.

        Required in production, where several web hosts must share it; the embedded default
        generates one on first use and keeps it under the data directory.
        """
        if self.secret_key:
            return self.secret_key
        if not self.embedded:
            raise ConfigError("HOOKRELAY_SECRET_KEY is required outside the embedded default")
        path = self.data_dir / "secret_key"
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            with contextlib.suppress(FileExistsError):  # another process wrote it first
                with open(path, "x") as out:
                    out.write(secrets.token_urlsafe(48))
                path.chmod(0o600)
        return path.read_text().strip()
