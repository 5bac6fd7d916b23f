"""Missing-cashback claims and their receipts.

A claim names a purchase the feed never paid for (a member's word, perhaps a receipt); a
person on the merchant's side (or an admin) accepts or declines it. An accepted claim holds the
reward it booked, and later the card event found to be that purchase (which then pays nothing).
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import BigInteger, Column, Index, LargeBinary, UniqueConstraint, text
from sqlmodel import Field

from settlement.tables import TableModel

OPEN_CLAIM = "status = 'accepted' AND matched_event_id IS NULL"


class Claim(TableModel, table=True):
    __tablename__ = "claim"
    __table_args__ = (
        UniqueConstraint("member_id", "idempotency_key", name="uq_claim_member_idempotency_key"),
        Index("ix_claim_member_status", "member_id", "status"),
        # The feed's decide stage reads a batch's members' accepted, unmatched claims: a
        # partial index of those few, so the lookup never filters all claims by the batch's
        # member list (5 ms for a batch of 5,000 members on PostgreSQL).
        Index(
            "ix_claim_open_member",
            "member_id",
            sqlite_where=text(OPEN_CLAIM),
            postgresql_where=text(OPEN_CLAIM),
        ),
        Index("ix_claim_merchant_status", "merchant_id", "status"),
    )

    id: int | None = Field(default=None, primary_key=True)
    member_id: int = Field(foreign_key="member.id")
    merchant_id: int = Field(foreign_key="merchant.id")
    card_id: int = Field(foreign_key="card.id")
    # The activity item the member claimed from, when there was one.
    card_event_id: int | None = Field(default=None, sa_type=BigInteger)
    purchase_date: date
    spend_amount: int = Field(sa_type=BigInteger)
    currency: str = Field(max_length=3)
    note: str = Field(default="", max_length=500)  # the member's words
    idempotency_key: str = Field(max_length=64)
    # submitted | accepted | declined | refused (never open: refused when filed)
    status: str = Field(max_length=16)
    reason: str | None = Field(default=None, max_length=64)  # machine-readable
    decision_note: str = Field(default="", max_length=500)  # the decider's words
    decided_by: str | None = Field(default=None, max_length=64)  # admin | merchant:{id}
    decided_at: datetime | None = None
    offer_id: int | None = Field(default=None, foreign_key="offer.id")
    reward_id: int | None = Field(default=None, sa_type=BigInteger)
    reward_amount: int = Field(default=0, sa_type=BigInteger)
    # The card event found later to be this purchase (its outcome: no_reward, claimed).
    matched_event_id: int | None = Field(default=None, sa_type=BigInteger)
    created_at: datetime


class ClaimReceipt(TableModel, table=True):
    """A receipt image or PDF, kept apart so that listing claims never reads megabytes."""

    __tablename__ = "claim_receipt"
    claim_id: int = Field(foreign_key="claim.id", primary_key=True)
    content_type: str = Field(max_length=32)
    size_bytes: int
    sha256: str = Field(max_length=64)
    body: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    uploaded_at: datetime
