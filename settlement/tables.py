"""Money tables: the double-entry ledger and the reward lifecycle that drives it.

Ledger rows are append-only: entries and postings are never updated or deleted (triggers
enforce it), and a pending entry's one resolution (posted or voided) is its own row, keyed by
the entry, so it can happen at most once. Cached balances live on the account row, plus, for
accounts every feed batch shares, on slot rows summed when read; `clo ledger check` checks
them against the postings.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import TYPE_CHECKING, ClassVar

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    Index,
    Integer,
    SmallInteger,
    String,
    Table,
)
from sqlmodel import Field, SQLModel

# 64-bit keys on PostgreSQL; on SQLite only INTEGER PRIMARY KEY is the auto-assigned rowid.
BigId = BigInteger().with_variant(Integer(), "sqlite")


class TableModel(SQLModel):
    """The base of every table model (`table=True`) in the project.

    SQLModel sets `__table__` on each table class at runtime but does not declare it; the
    declaration here lets the type checker see the Core `Table` that the bulk statements use.
    It adds no field and no column.
    """

    if TYPE_CHECKING:
        __table__: ClassVar[Table]


class LedgerAccount(TableModel, table=True):
    __tablename__ = "ledger_account"
    __table_args__ = (
        # Credit-normal sign convention: what the platform owes is positive, what it is owed
        # is negative. Accounts that may never be owed money cannot go below zero.
        CheckConstraint(
            "allow_negative OR posted_amount >= 0", name="ck_ledger_account_no_negative"
        ),
        # A member's balance reads their accounts (settlement.balances; migration 0020).
        Index("ix_ledger_account_owner", "owner_type", "owner_id"),
    )
    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(max_length=120, unique=True)  # e.g. member:42:pending:USD
    currency: str = Field(max_length=3)
    kind: str = Field(max_length=32)  # member_pending, member_available, merchant_receivable, ...
    owner_type: str = Field(max_length=16)  # member | merchant | platform | charity
    owner_id: int | None = None
    allow_negative: bool = False
    # Cached totals; equal to the sums of postings (posted entries / unresolved pending ones).
    posted_amount: int = Field(default=0, sa_type=BigInteger)
    pending_amount: int = Field(default=0, sa_type=BigInteger)


class LedgerBalanceSlot(TableModel, table=True):
    """A share of a shared account's cached balance, written by one feed writer.

    Every feed batch moves the platform's revenue and its merchants' receivables. On the
    account row, concurrent batches would queue on that row lock from their first balance
    write to their commit. Each feed writer adds to its own slot row instead
    (`settlement.ledger.slots`), and a balance is the account row plus its slots. Member
    accounts never get slots: one member's events go to one writer.
    """

    __tablename__ = "ledger_balance_slot"
    account_id: int = Field(primary_key=True, foreign_key="ledger_account.id")
    slot: int = Field(primary_key=True, sa_type=SmallInteger)
    posted_amount: int = Field(default=0, sa_type=BigInteger)
    pending_amount: int = Field(default=0, sa_type=BigInteger)


class LedgerEntry(TableModel, table=True):
    __tablename__ = "ledger_entry"
    __table_args__ = (
        Index("ix_ledger_entry_reward", "reward_id"),
        # Settlement finds a period's bookings by when they were written (migration 0003).
        Index("ix_ledger_entry_created_at", "created_at", "initial_status"),
    )
    id: int | None = Field(default=None, primary_key=True, sa_type=BigId)
    idempotency_key: str = Field(sa_column=Column(String(160), unique=True, nullable=False))
    content_sha256: str = Field(max_length=64)
    kind: str = Field(max_length=32)  # accrual, maturation, clawback, adjustment, ...
    initial_status: str = Field(max_length=16)  # pending | posted
    currency: str = Field(max_length=3)
    event_id: int | None = Field(default=None, sa_type=BigInteger)
    offer_id: int | None = None
    merchant_id: int | None = None
    member_id: int | None = None
    reward_id: int | None = Field(default=None, sa_type=BigInteger)
    run_id: int | None = None
    reverses_entry_id: int | None = Field(default=None, sa_type=BigInteger)
    effective_at: datetime
    created_at: datetime
    memo: str = Field(default="", max_length=200)


class LedgerEntryResolution(TableModel, table=True):
    """How a pending entry ended: posted or voided. The primary key makes it happen once."""

    __tablename__ = "ledger_entry_resolution"
    # ...and by when pending entries were resolved as posted (migration 0003).
    __table_args__ = (
        Index("ix_ledger_entry_resolution_resolved_at", "resolved_at", "status", "entry_id"),
    )
    entry_id: int = Field(foreign_key="ledger_entry.id", primary_key=True, sa_type=BigInteger)
    status: str = Field(max_length=16)  # posted | voided
    resolved_at: datetime
    reason: str = Field(default="", max_length=64)


class LedgerPosting(TableModel, table=True):
    __tablename__ = "ledger_posting"
    __table_args__ = (
        Index("ix_ledger_posting_entry", "entry_id"),
        Index("ix_ledger_posting_account", "account_id"),
    )
    id: int | None = Field(default=None, primary_key=True, sa_type=BigId)
    entry_id: int = Field(foreign_key="ledger_entry.id", sa_type=BigInteger)
    account_id: int = Field(foreign_key="ledger_account.id")
    amount: int = Field(sa_type=BigInteger)
    currency: str = Field(max_length=3)


REPORTED_REWARD_COLUMNS = (
    "state",
    "member_id",
    "merchant_id",
    "spend_amount",
    "refunded_spend_amount",
    "reward_amount",
    "clawed_reward_amount",
    "commission_amount",
    "clawed_commission_amount",
)


# The refunds that clawed a reward back, as its attribution report counts them.
REPORTED_REFUND_COLUMNS = ("clawback_refund_count", "clawback_refund_amount")


class LedgerDailyBooking(TableModel, table=True):
    """What was booked as posted to each non-member account, per UTC day, entry kind and
    offer: a rollup kept by the ledger writer in the transaction that books the postings.

    An entry is booked when written posted or when its pending entry is resolved as posted
    (`settlement.runs.statements` explains why settlement goes by booking time). Statements
    read a period from here instead of joining its million entries to their postings;
    `clo ledger check` recomputes every row from the postings. Member accounts are left
    out: they hold most postings, and an entry's member side is minus the rest.
    """

    __tablename__ = "ledger_daily_booking"
    booked_on: date = Field(primary_key=True)
    account_id: int = Field(primary_key=True, foreign_key="ledger_account.id")
    kind: str = Field(primary_key=True, max_length=32)  # the entry's kind
    offer_id: int = Field(primary_key=True)  # NO_OFFER for entries of no offer
    # The feed writer's slot (`LedgerBalanceSlot` says why); 0 for every other writer. A
    # booking is the sum of its slots' rows.
    slot: int = Field(
        default=0, primary_key=True, sa_type=SmallInteger, sa_column_kwargs={"server_default": "0"}
    )
    postings: int = Field(sa_type=BigInteger)
    amount: int = Field(sa_type=BigInteger)
    merchant_id: int | None = None  # the offer's merchant; none for NO_OFFER rows


class Reward(TableModel, table=True):
    """One rewarded purchase from auth to maturity; each transition writes ledger entries.

    This row is state, not money: the money is in the ledger, and every transition's entry is
    keyed by reward and transition so replaying a transition writes nothing twice.
    """

    __tablename__ = "reward"
    __table_args__ = (
        Index("ix_reward_state_hold", "state", "hold_until"),
        Index("ix_reward_member", "member_id"),
        # An offer's rewards in a period, for its attribution report: every column the
        # report sums is in the index, so it reads the index alone, in order, never the
        # rows at random (on SQLite that was three quarters of the report's time).
        Index(
            "ix_reward_offer_occurred",
            "offer_id",
            "occurred_at",
            *REPORTED_REWARD_COLUMNS,
        ),
        # The attribution report's qualified purchases (`service.attribution.repository.
        # _qualified`): an offer's rewards first booked in the period, a range of this index;
        # covering, like the one above, so the report's sums never read the rows.
        Index(
            "ix_reward_offer_booked",
            "offer_id",
            "booked_at",
            *REPORTED_REWARD_COLUMNS,
            *REPORTED_REFUND_COLUMNS,
        ),
    )
    id: int | None = Field(default=None, primary_key=True, sa_type=BigId)
    member_id: int
    offer_id: int
    merchant_id: int
    currency: str = Field(max_length=3)
    # authorized (pending entry) -> cleared (posted) -> matured; or voided
    state: str = Field(max_length=16)
    auth_event_id: int | None = Field(default=None, sa_type=BigInteger)
    clearing_event_id: int | None = Field(default=None, sa_type=BigInteger)
    spend_amount: int = Field(sa_type=BigInteger)
    reward_amount: int = Field(sa_type=BigInteger)
    commission_amount: int = Field(sa_type=BigInteger)
    refunded_spend_amount: int = Field(default=0, sa_type=BigInteger)
    clawed_reward_amount: int = Field(default=0, sa_type=BigInteger)
    clawed_commission_amount: int = Field(default=0, sa_type=BigInteger)
    occurred_at: datetime
    hold_days: int
    hold_until: datetime | None = None
    expires_at: datetime | None = None
    cleared_at: datetime | None = None
    matured_at: datetime | None = None
    # The part of the net reward already moved to the member's available balance.
    available_reward_amount: int = Field(default=0, sa_type=BigInteger)
    # When the reward's first accrual was booked as posted in the ledger (written posted: the
    # entry's created_at; written pending and resolved posted: the resolution's resolved_at);
    # NULL while none is. The period a purchase counts in, kept here so a report finds an
    # offer's purchases by an index range instead of probing the ledger for each reward.
    # Written by `RewardBook` with the entries; `clo ledger check` compares it with the ledger.
    booked_at: datetime | None = None
    # The refund (and full-reversal) events that clawed this reward back, and the sum of
    # their amounts: the attribution report's refunds, read from the offer's index range
    # instead of a probe of the events for each reward. Tallied by the feed with the event's
    # outcome; `clo ledger check` recounts them from the events.
    clawback_refund_count: int = 0
    clawback_refund_amount: int = Field(default=0, sa_type=BigInteger)


class OfferBudget(TableModel, table=True):
    """Budget and redemptions reserved per offer; changed only by conditional UPDATEs.

    The CHECKs make overspending impossible even if a caller forgets to lock.
    """

    __tablename__ = "offer_budget"
    __table_args__ = (
        CheckConstraint(
            "budget_amount IS NULL OR reserved_amount <= budget_amount",
            name="ck_offer_budget_not_overspent",
        ),
        CheckConstraint(
            "max_redemptions IS NULL OR redemption_count <= max_redemptions",
            name="ck_offer_budget_redemptions",
        ),
        CheckConstraint(
            "reserved_amount >= 0 AND redemption_count >= 0", name="ck_offer_budget_non_negative"
        ),
    )
    offer_id: int = Field(primary_key=True)
    currency: str = Field(max_length=3)
    budget_amount: int | None = Field(default=None, sa_type=BigInteger)
    max_redemptions: int | None = None
    reserved_amount: int = Field(default=0, sa_type=BigInteger)
    redemption_count: int = 0


class OfferBudgetHold(TableModel, table=True):
    """What a feed batch reserved ahead of its own transaction (PostgreSQL), until it commits.

    Written with the reservation in a short transaction of its own and deleted by the batch's
    transaction: the batch's commit makes the reservation final, a batch that did not commit
    leaves its holds to be given back (`settlement.budget_holds`).
    """

    __tablename__ = "offer_budget_hold"
    batch_key: int = Field(
        primary_key=True, sa_type=BigInteger, sa_column_kwargs={"autoincrement": False}
    )
    offer_id: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    amount: int = Field(sa_type=BigInteger)
    redemptions: int
