"""The outbox: what partners and members care about, written in the transaction that caused it.

A change and its outbox row commit together or not at all, so a consumer (partner webhooks,
member notifications) never sees a change that was rolled back. Ids follow the order rows were
written, not the order they committed: on PostgreSQL a concurrent transaction can commit a
higher id first, so consumers read past their cursor and wait a while at a gap in the ids
before they move on (`service.webhooks.fanout`, `service.notifications.notifier`).

The row keeps the few facts a payload is rendered from; the payload itself (versioned,
documented) is built when it is delivered, so the feed's hot path writes a short tuple and
encodes no JSON.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import BigInteger, Column, Connection, Text
from sqlmodel import Field

from settlement.ledger.bulk import bulk_insert
from settlement.tables import BigId, TableModel

# The payload schema's version; a consumer sees it in every payload as `schema_version`.
OUTBOX_SCHEMA_VERSION = 1


class OutboxEventType(StrEnum):
    REWARD_PENDING = "reward.pending"
    REWARD_POSTED = "reward.posted"
    REWARD_VOIDED = "reward.voided"
    REWARD_CLAWED_BACK = "reward.clawed_back"
    REWARD_AVAILABLE = "reward.available"
    PAYOUT_PAID = "payout.paid"
    PAYOUT_FAILED = "payout.failed"
    OFFER_PUBLISHED = "offer.published"
    OFFER_ENDED = "offer.ended"
    OFFER_BUDGET_LOW = "offer.budget_low"
    OFFER_BUDGET_EXHAUSTED = "offer.budget_exhausted"
    SETTLEMENT_AWAITING_APPROVAL = "settlement.awaiting_approval"
    SETTLEMENT_CLOSED = "settlement.closed"
    CARD_LINKED = "card.linked"
    PLAID_ITEM_RELINK_REQUIRED = "plaid_item.relink_required"
    CLAIM_DECIDED = "claim.decided"


class OutboxEvent(TableModel, table=True):
    """One domain event. Its id is the global order consumers read by (`id > cursor`); the
    public event id is derived from it (`public_event_id`), so it is stable across retries
    and replays. Member, merchant and offer ids say who may see it: a publisher sees events
    of its own members, a merchant those of its own offers (checked when delivered)."""

    __tablename__ = "outbox_event"
    # No index but the primary key, and no foreign keys: every consumer reads by id range,
    # and the ids named here are copied from rows written in the same transaction.
    id: int | None = Field(default=None, sa_column=Column(BigId, primary_key=True))
    type: str = Field(max_length=40)
    occurred_at: datetime  # when the change happened in the world (the event's time)
    created_at: datetime  # when it was written
    member_id: int | None = None
    merchant_id: int | None = None
    offer_id: int | None = None
    reward_id: int | None = Field(default=None, sa_type=BigInteger)
    amount_minor: int | None = Field(default=None, sa_type=BigInteger)
    currency: str | None = Field(default=None, max_length=3)
    # Anything else the type's payload needs, as JSON text (never a card number or a name).
    data: str | None = Field(default=None, sa_column=Column(Text, nullable=True))


OUTBOX_COLUMNS: tuple[str, ...] = (
    "type",
    "occurred_at",
    "created_at",
    "member_id",
    "merchant_id",
    "offer_id",
    "reward_id",
    "amount_minor",
    "currency",
    "data",
)

OutboxRow = tuple[
    str,
    datetime,
    datetime,
    int | None,
    int | None,
    int | None,
    int | None,
    int | None,
    str | None,
    str | None,
]


def outbox_row(
    type_: OutboxEventType,
    *,
    occurred_at: datetime,
    now: datetime,
    member_id: int | None = None,
    merchant_id: int | None = None,
    offer_id: int | None = None,
    reward_id: int | None = None,
    amount_minor: int | None = None,
    currency: str | None = None,
    data: Mapping[str, Any] | None = None,
) -> OutboxRow:
    """The row of one outbox event, in `OUTBOX_COLUMNS` order."""
    return (
        type_.value,
        occurred_at,
        now,
        member_id,
        merchant_id,
        offer_id,
        reward_id,
        amount_minor,
        currency,
        json.dumps(data, sort_keys=True, separators=(",", ":")) if data else None,
    )


def write_outbox(conn: Connection, rows: Sequence[OutboxRow]) -> None:
    """Write outbox rows on the caller's connection, inside the caller's transaction."""
    bulk_insert(conn, OutboxEvent.__table__, OUTBOX_COLUMNS, rows)


def record_outbox_event(conn: Connection, type_: OutboxEventType, **facts: Any) -> None:
    """Write one outbox event (`outbox_row`'s keywords) inside the caller's transaction."""
    write_outbox(conn, [outbox_row(type_, **facts)])


def public_event_id(outbox_id: int) -> str:
    """The id partners and members see for outbox row `outbox_id`."""
    return f"evt_{outbox_id:012d}"
