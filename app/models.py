"""The stored model: workspaces own environments, credentials, endpoints and deliveries."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    false,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from app.crypto import EncryptedHeaders, EncryptedText
from app.db import Base, UTCDateTime, utcnow
from app.domain import DeliveryStatus, DestinationType


def _created() -> Mapped[datetime]:
    return mapped_column(UTCDateTime(), default=utcnow, nullable=False)


def _updated() -> Mapped[datetime]:
    return mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow, nullable=False)


class Workspace(Base):
    __tablename__ = "workspaces"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = _created()


class Environment(Base):
    __tablename__ = "environments"
    __table_args__ = (UniqueConstraint("workspace_id", "slug"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(200))
    slug: Mapped[str] = mapped_column(String(64))
    is_default: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = _created()
    updated_at: Mapped[datetime] = _updated()


class ApiKey(Base):
    """Ingest credential (`nhk_<region>_...`), scoped to one environment; only a hash is kept."""

    __tablename__ = "api_keys"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    environment_id: Mapped[str] = mapped_column(ForeignKey("environments.id", ondelete="CASCADE"))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = _created()
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class ManagementToken(Base):
    """Management credential (`nhm_...`), scoped to one workspace; only a hash is kept."""

    __tablename__ = "management_tokens"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = _created()
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class DashboardSession(Base):
    """A dashboard sign-in; only a hash of the id its cookie carries is kept.

    Signing out deletes the row, so a copied cookie stops working although its token lives.
    """

    __tablename__ = "dashboard_sessions"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    token_id: Mapped[str] = mapped_column(
        ForeignKey("management_tokens.id", ondelete="CASCADE"), index=True
    )
    created_at: Mapped[datetime] = _created()
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)


class Endpoint(Base):
    __tablename__ = "endpoints"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    workspace_id: Mapped[str] = mapped_column(
        ForeignKey("workspaces.id", ondelete="CASCADE"), index=True
    )
    environment_id: Mapped[str] = mapped_column(ForeignKey("environments.id", ondelete="CASCADE"))
    url: Mapped[str] = mapped_column(Text)
    description: Mapped[str | None] = mapped_column(Text)
    type: Mapped[str] = mapped_column(String(16), default=DestinationType.WEBHOOK)
    # Signing secrets, basic-auth passwords and custom header values (in `config`) are
    # encrypted at rest (app/crypto.py); URLs may not carry credentials at all.
    config: Mapped[dict[str, Any]] = mapped_column(EncryptedHeaders(), default=dict)
    metadata_: Mapped[dict[str, str]] = mapped_column("metadata", JSON, default=dict)
    secret: Mapped[str] = mapped_column(EncryptedText())
    auth_username: Mapped[str | None] = mapped_column(String(200))
    auth_password: Mapped[str | None] = mapped_column(EncryptedText())
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    disabled_reason: Mapped[str | None] = mapped_column(String(200))
    # Set when the endpoint belongs to an application (a customer) rather than the workspace.
    # No foreign key: SQLite cannot add one without rebuilding (and so emptying) the table;
    # deleting an application deletes its endpoints in the same transaction instead.
    application_id: Mapped[str | None] = mapped_column(String(40), index=True)
    # After a rotation the old secret still signs until it expires, so receivers can switch.
    previous_secret: Mapped[str | None] = mapped_column(EncryptedText())
    previous_secret_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Isolation (app/services/endpoint_health.py): the attempts allowed in flight at once
    # (None: the server default), deliveries per second (None: unlimited), and the state the
    # workers keep here so that every worker process on every host sees the same.
    max_in_flight: Mapped[int | None] = mapped_column(Integer)
    rate_limit: Mapped[float | None] = mapped_column(Float)
    rate_next_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    circuit_state: Mapped[str] = mapped_column(
        String(16), default="closed", server_default="closed"
    )
    consecutive_failures: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    circuit_trips: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    circuit_open_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    paused_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    failing_since: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = _created()
    updated_at: Mapped[datetime] = _updated()


class Delivery(Base):
    """One payload bound for one endpoint, and where it stands.

    `next_attempt_at` lives here, not in the broker: the scheduler enqueues what is due, so a
    retry hours away never sits unacknowledged in Redis or RabbitMQ. `lease_owner` and
    `lease_expires_at` say which worker may send right now; `enqueued_at` says when a task
    was last published, so work committed but never picked up is found again.
    `parked_at` marks a delivery held back by its endpoint (no free slot, an open circuit, a
    pause): a worker finishing an attempt to that endpoint relays its slot to it, or the
    scheduler wakes it once the endpoint may take it.
    """

    __tablename__ = "deliveries"
    __table_args__ = (
        Index("ix_deliveries_endpoint_id_id", "endpoint_id", "id"),
        Index(
            "ix_deliveries_due",
            "next_attempt_at",
            sqlite_where=text("status IN ('pending', 'scheduled_retry')"),
            postgresql_where=text("status IN ('pending', 'scheduled_retry')"),
        ),
        Index(
            "ix_deliveries_leased",
            "lease_expires_at",
            sqlite_where=text("status = 'delivering'"),
            postgresql_where=text("status = 'delivering'"),
        ),
        Index(
            "ix_deliveries_in_flight",
            "endpoint_id",
            sqlite_where=text("status = 'delivering'"),
            postgresql_where=text("status = 'delivering'"),
        ),
        Index(
            "ix_deliveries_parked",
            "endpoint_id",
            "parked_at",
            sqlite_where=text("parked_at IS NOT NULL"),
            postgresql_where=text("parked_at IS NOT NULL"),
        ),
        # A burst's parking and holding at claim time (endpoint_health) finds only the
        # deliveries that are neither parked nor in flight.
        Index(
            "ix_deliveries_unparked",
            "endpoint_id",
            "next_attempt_at",
            sqlite_where=text("status IN ('pending', 'scheduled_retry') AND parked_at IS NULL"),
            postgresql_where=text("status IN ('pending', 'scheduled_retry') AND parked_at IS NULL"),
        ),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    environment_id: Mapped[str] = mapped_column(ForeignKey("environments.id", ondelete="CASCADE"))
    endpoint_id: Mapped[str] = mapped_column(ForeignKey("endpoints.id", ondelete="CASCADE"))
    idempotency_key: Mapped[str] = mapped_column(String(255))
    # The event type a fan-out (or a test event) sent it for; None for a direct send.
    event_type: Mapped[str | None] = mapped_column(String(100))
    payload: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(20), default=DeliveryStatus.PENDING)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    first_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    enqueued_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    lease_owner: Mapped[str | None] = mapped_column(String(100))
    lease_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    parked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Set by an operator's "retry now": the next claim ignores an open circuit or a pause.
    operator_retry: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # W3C traceparent of the ingest request, when tracing was on: a retry's trace links to it.
    traceparent: Mapped[str | None] = mapped_column(String(55))
    created_at: Mapped[datetime] = _created()
    updated_at: Mapped[datetime] = _updated()


class EventType(Base):
    """A named kind of event (`order.paid`) that endpoints subscribe to for fan-out."""

    __tablename__ = "event_types"
    __table_args__ = (UniqueConstraint("workspace_id", "name"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(100))
    description: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = _created()
    updated_at: Mapped[datetime] = _updated()


class Subscription(Base):
    __tablename__ = "subscriptions"
    __table_args__ = (UniqueConstraint("endpoint_id", "event_type_id"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    endpoint_id: Mapped[str] = mapped_column(ForeignKey("endpoints.id", ondelete="CASCADE"))
    event_type_id: Mapped[str] = mapped_column(
        ForeignKey("event_types.id", ondelete="CASCADE"), index=True
    )
    created_at: Mapped[datetime] = _created()


class EventTypeVisibility(Base):
    """Whether an environment's portal shows an event type; absent means not published."""

    __tablename__ = "event_type_visibility"

    environment_id: Mapped[str] = mapped_column(
        ForeignKey("environments.id", ondelete="CASCADE"), primary_key=True
    )
    event_type_id: Mapped[str] = mapped_column(
        ForeignKey("event_types.id", ondelete="CASCADE"), primary_key=True
    )
    published: Mapped[bool] = mapped_column(Boolean, default=False)


class Application(Base):
    """One of the workspace's customers, owning its own endpoints."""

    __tablename__ = "applications"
    __table_args__ = (UniqueConstraint("workspace_id", "external_id"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    external_id: Mapped[str | None] = mapped_column(String(255))
    name: Mapped[str] = mapped_column(String(200))
    metadata_: Mapped[dict[str, str]] = mapped_column("metadata", JSON, default=dict)
    max_endpoints: Mapped[int | None] = mapped_column(Integer)
    show_event_types: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = _created()
    updated_at: Mapped[datetime] = _updated()


class PortalSession(Base):
    """A one-time code that lets an application's user into the portal; only a hash is kept."""

    __tablename__ = "portal_sessions"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    application_id: Mapped[str] = mapped_column(
        ForeignKey("applications.id", ondelete="CASCADE"), index=True
    )
    code_hash: Mapped[str] = mapped_column(String(64), unique=True)
    role: Mapped[str] = mapped_column(String(32))
    metadata_: Mapped[dict[str, str]] = mapped_column("metadata", JSON, default=dict)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = _created()


class Attempt(Base):
    """One HTTP attempt (or refusal to attempt) of a delivery."""

    __tablename__ = "attempts"
    __table_args__ = (UniqueConstraint("delivery_id", "attempt_number"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    delivery_id: Mapped[str] = mapped_column(ForeignKey("deliveries.id", ondelete="CASCADE"))
    attempt_number: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(20))
    response_status_code: Mapped[int | None] = mapped_column(Integer)
    response_time_ms: Mapped[int | None] = mapped_column(Integer)
    response_body: Mapped[str | None] = mapped_column(Text)
    error_message: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = _created()


class IdempotencyKey(Base):
    """Claims a key for a workspace for 15 minutes; the primary key decides concurrent races."""

    __tablename__ = "idempotency_keys"

    workspace_id: Mapped[str] = mapped_column(
        ForeignKey("workspaces.id", ondelete="CASCADE"), primary_key=True
    )
    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    delivery_id: Mapped[str] = mapped_column(String(40))
    fingerprint: Mapped[str] = mapped_column(String(64))
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
