"""A reward's stored row as the book holds it, its states, and the statements that read it.

`settlement.rewards.RewardBook` loads these, changes them through the lifecycle and writes
them back; the record's fields are the `reward` table's columns, in the same names.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import datetime
from enum import StrEnum
from functools import cache
from typing import Any

from sqlalchemy import Select, and_, select

from matching.lifecycle import RewardTerms
from settlement.ledger.bulk import by_keys
from settlement.ledger.writer import EntryStatus
from settlement.tables import LedgerAccount, LedgerEntry, LedgerEntryResolution, Reward

_rewards = Reward.__table__
_entries = LedgerEntry.__table__
_resolutions = LedgerEntryResolution.__table__
_accounts = LedgerAccount.__table__


class RewardState(StrEnum):
    AUTHORIZED = "authorized"
    CLEARED = "cleared"
    MATURED = "matured"
    VOIDED = "voided"


class RewardStateError(Exception):
    """A transition asked of a reward in a state that does not allow it: a bug in the caller."""


@dataclass(slots=True)
class RewardRecord:
    id: int
    member_id: int
    offer_id: int
    merchant_id: int
    currency: str
    state: RewardState
    auth_event_id: int | None
    clearing_event_id: int | None
    spend_amount: int
    reward_amount: int
    commission_amount: int
    occurred_at: datetime
    hold_days: int
    refunded_spend_amount: int = 0
    clawed_reward_amount: int = 0
    clawed_commission_amount: int = 0
    hold_until: datetime | None = None
    expires_at: datetime | None = None
    cleared_at: datetime | None = None
    matured_at: datetime | None = None
    # The part of the net reward already moved to the member's available balance.
    available_reward_amount: int = 0
    # When its first accrual was booked as posted (`Reward.booked_at`): set by `RewardBook`.
    booked_at: datetime | None = None
    # Refund events that clawed it back, and their amounts (`Reward.clawback_refund_count`).
    clawback_refund_count: int = 0
    clawback_refund_amount: int = 0

    @property
    def net_reward_amount(self) -> int:
        return self.reward_amount - self.clawed_reward_amount

    @property
    def net_commission_amount(self) -> int:
        return self.commission_amount - self.clawed_commission_amount

    @property
    def terms(self) -> RewardTerms:
        return RewardTerms(
            self.spend_amount,
            self.reward_amount,
            self.commission_amount,
            self.refunded_spend_amount,
            self.clawed_reward_amount,
            self.clawed_commission_amount,
        )

    def take_terms(self, terms: RewardTerms) -> None:
        self.spend_amount = terms.spend_amount
        self.reward_amount = terms.reward_amount
        self.commission_amount = terms.commission_amount
        self.refunded_spend_amount = terms.refunded_spend_amount
        self.clawed_reward_amount = terms.clawed_reward_amount
        self.clawed_commission_amount = terms.clawed_commission_amount


REWARD_COLUMNS = [f.name for f in fields(RewardRecord)]
REWARD_TIMES = ("occurred_at", "hold_until", "expires_at", "cleared_at", "matured_at", "booked_at")


# The statements of `RewardBook.load`, built once per dialect (`by_keys` says why).
@cache
def rewards_query(dialect: str) -> Select[Any]:
    query = select(*(_rewards.c[name] for name in REWARD_COLUMNS))
    if dialect == "postgresql":
        # Ingest, maturation and expiry all read a reward, change it and write it back
        # whole: the row lock (taken in id order: `by_keys` locks in the order of the
        # sorted ids) makes them wait for each other instead of one overwriting the other.
        # SQLite's write lock does the same.
        query = query.with_for_update()
    query = by_keys(dialect, query, _rewards.c.id)
    return query.order_by(query.selected_columns.id)


@cache
def pending_entries_query(dialect: str) -> Select[Any]:
    """The one unresolved pending entry of each authorized reward."""
    return by_keys(
        dialect,
        select(_entries.c.reward_id, _entries.c.id)
        .select_from(_entries.outerjoin(_resolutions, _resolutions.c.entry_id == _entries.c.id))
        .where(
            and_(
                _entries.c.initial_status == EntryStatus.PENDING.value,
                _resolutions.c.entry_id.is_(None),
            )
        ),
        _entries.c.reward_id,
    )


@cache
def balances_query(dialect: str) -> Select[Any]:
    return by_keys(dialect, select(_accounts.c.code, _accounts.c.posted_amount), _accounts.c.code)


def stored_value(record: RewardRecord, name: str) -> object:
    # States go in as their plain values: COPY would write an enum member's name.
    return record.state.value if name == "state" else getattr(record, name)
