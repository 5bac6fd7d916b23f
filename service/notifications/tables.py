"""Tables of member notifications: what a member was told, how, and what they chose.

A notification is keyed by what caused it (`source_key`: the outbox row, or the reward for
"cashback earned", or the activation for an expiring offer), once per member; each channel
it goes out on is one delivery, once per notification and channel. Unique keys make the
notifier idempotent: a chunk read again after a crash inserts nothing new.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Column, Index, Text, UniqueConstraint
from sqlmodel import Field

from settlement.tables import BigId, TableModel


class NotifierCursor(TableModel, table=True):
    """How far a consumer has read the outbox: every row with id <= last_outbox_id is done."""

    __tablename__ = "notifier_cursor"
    consumer: str = Field(max_length=32, primary_key=True)
    last_outbox_id: int = Field(default=0, sa_type=BigInteger)
    updated_at: datetime


class Notification(TableModel, table=True):
    """One thing a member is told. The text is rendered when shown or sent, in the reader's
    language, from `kind` and the facts kept here (never a card number or a name)."""

    __tablename__ = "notification"
    __table_args__ = (
        UniqueConstraint("member_id", "source_key", name="uq_notification_member_source"),
        Index("ix_notification_member_id", "member_id", "id"),
    )
    id: int | None = Field(default=None, sa_column=Column(BigId, primary_key=True))
    member_id: int = Field(foreign_key="member.id")
    kind: str = Field(max_length=32)
    source_key: str = Field(max_length=64)
    outbox_id: int | None = Field(default=None, sa_type=BigInteger)
    merchant_id: int | None = None
    offer_id: int | None = None
    reward_id: int | None = Field(default=None, sa_type=BigInteger)
    amount_minor: int | None = Field(default=None, sa_type=BigInteger)
    currency: str | None = Field(default=None, max_length=3)
    # Facts the text needs beyond the columns (merchant name, days left), as JSON.
    data: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    # Shown in the in-app list (the member's in-app choice when it was made).
    in_app: bool = True
    created_at: datetime
    read_at: datetime | None = None


class NotificationDelivery(TableModel, table=True):
    """One notification on one channel (email or push): pending until due (quiet hours),
    then sent, or failed with the reason."""

    __tablename__ = "notification_delivery"
    __table_args__ = (
        UniqueConstraint("notification_id", "channel", name="uq_delivery_notification_channel"),
        Index("ix_delivery_due", "status", "due_at"),
    )
    id: int | None = Field(default=None, sa_column=Column(BigId, primary_key=True))
    notification_id: int = Field(sa_type=BigInteger, foreign_key="notification.id")
    member_id: int = Field(foreign_key="member.id")
    channel: str = Field(max_length=8)  # email | push
    status: str = Field(max_length=12)  # pending | sending | sent | failed | dropped
    due_at: datetime
    attempts: int = 0
    sent_at: datetime | None = None
    last_error: str | None = Field(default=None, max_length=200)


class NotificationPreference(TableModel, table=True):
    """What a member chose. No row: in-app on, email on when the member has an email, push
    off until a browser subscribes; no quiet hours; language from the web account."""

    __tablename__ = "notification_preference"
    member_id: int = Field(foreign_key="member.id", primary_key=True)
    in_app: bool = True
    email: bool = True
    push: bool = True
    language: str | None = Field(default=None, max_length=8)
    timezone: str = Field(default="UTC", max_length=64)
    # Quiet hours as minutes after local midnight; both set or both empty. Start after end
    # spans midnight (22:00-07:00).
    quiet_start_minute: int | None = None
    quiet_end_minute: int | None = None
    updated_at: datetime


class PushSubscription(TableModel, table=True):
    """A browser's Web Push subscription (PushManager.subscribe) for a member."""

    __tablename__ = "push_subscription"
    id: int | None = Field(default=None, primary_key=True)
    member_id: int = Field(foreign_key="member.id", index=True)
    endpoint: str = Field(max_length=1000, unique=True)
    p256dh: str = Field(max_length=200)
    auth: str = Field(max_length=100)
    created_at: datetime
