"""Partner webhook tables: endpoints, their ordered delivery queues, the fan-out cursor."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import BigInteger, Column, Index, Text, UniqueConstraint
from sqlmodel import Field

from settlement.tables import BigId, TableModel

ENABLED = "enabled"
DISABLED = "disabled"
PENDING = "pending"
DELIVERED = "delivered"
PARTNERS_CURSOR = "partners"


def aware(value: datetime) -> datetime:
    """A stored time (naive, UTC) as an aware one."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


class WebhookEndpoint(TableModel, table=True):
    """Where a partner receives events. `publisher_id` None: an admin's endpoint (every
    event); else the publisher's (its own members' events and offer events)."""

    __tablename__ = "webhook_endpoint"
    id: int | None = Field(default=None, primary_key=True)
    publisher_id: int | None = Field(default=None, foreign_key="publisher.id", index=True)
    url: str = Field(max_length=2048)
    event_types: str = Field(sa_column=Column(Text, nullable=False))  # JSON list of types
    description: str = Field(default="", max_length=200)
    status: str = Field(default=ENABLED, max_length=16)  # enabled | disabled
    disabled_reason: str | None = Field(default=None, max_length=500)
    disabled_at: datetime | None = None
    # Signing secrets, encrypted at rest; after a rotation the previous one signs alongside
    # until it expires, so a receiver can switch without dropping a delivery.
    secret_encrypted: str = Field(sa_column=Column(Text, nullable=False))
    previous_secret_encrypted: str | None = Field(
        default=None, sa_column=Column(Text, nullable=True)
    )
    previous_secret_expires_at: datetime | None = None
    # The newest outbox event when the endpoint was made: it receives the ones after it (a
    # replay reaches further back).
    after_outbox_id: int = Field(default=0, sa_type=BigInteger)
    # The sequence number of the last delivery queued for this endpoint.
    last_sequence: int = Field(default=0, sa_type=BigInteger)
    # A worker holds the endpoint while it sends (one sender per endpoint keeps the order).
    lease_token: str | None = Field(default=None, max_length=32)
    lease_until: datetime | None = None
    created_at: datetime
    updated_at: datetime


class WebhookDelivery(TableModel, table=True):
    """One event for one endpoint, sent in `sequence` order; the head blocks the rest."""

    __tablename__ = "webhook_delivery"
    __table_args__ = (
        UniqueConstraint("endpoint_id", "sequence", name="uq_webhook_delivery_sequence"),
        Index("ix_webhook_delivery_queue", "endpoint_id", "status", "sequence"),
    )
    id: int | None = Field(default=None, sa_column=Column(BigId, primary_key=True))
    endpoint_id: int = Field(foreign_key="webhook_endpoint.id")
    sequence: int = Field(sa_type=BigInteger)
    outbox_event_id: int = Field(sa_type=BigInteger)
    status: str = Field(default=PENDING, max_length=16)  # pending | delivered
    replay: bool = False
    attempts: int = 0
    next_attempt_at: datetime
    failing_since: datetime | None = None  # first failed attempt of the current streak
    last_attempt_at: datetime | None = None
    last_status_code: int | None = None
    last_error: str | None = Field(default=None, max_length=300)
    delivered_at: datetime | None = None
    created_at: datetime


class WebhookFanoutCursor(TableModel, table=True):
    """How far the fan-out has read the outbox (one row per consumer)."""

    __tablename__ = "webhook_fanout_cursor"
    name: str = Field(primary_key=True, max_length=32)
    last_outbox_id: int = Field(default=0, sa_type=BigInteger)
    # When the fan-out first met a hole in the outbox ids after the cursor (PostgreSQL: a
    # transaction holding a lower id may not have committed yet).
    gap_seen_at: datetime | None = None
    updated_at: datetime
