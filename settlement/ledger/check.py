"""Recompute every balance and daily booking from postings and compare with the cached
totals; and every reward's booking time (`reward.booked_at`) from its accrual entries."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import Connection, Subquery, and_, case, func, select, union_all

from settlement.ledger.bookings import BOOKING_WAYS, booking_mismatches, with_entry
from settlement.ledger.slots import balance_columns
from settlement.runs.statements import ACCRUAL_KINDS
from settlement.tables import (
    LedgerAccount,
    LedgerEntry,
    LedgerEntryResolution,
    LedgerPosting,
    Reward,
)

_a = LedgerAccount.__table__
_e = LedgerEntry.__table__
_r = LedgerEntryResolution.__table__
_p = LedgerPosting.__table__
_rw = Reward.__table__
MAX_LISTED = 100  # differences listed per check (the report shows the first 20)


@dataclass
class LedgerReport:
    accounts: int = 0
    entries: int = 0
    postings: int = 0
    balance_mismatches: list[str] = field(default_factory=list)
    unbalanced_entries: list[int] = field(default_factory=list)
    currency_totals: dict[str, int] = field(default_factory=dict)
    negative_accounts: list[str] = field(default_factory=list)
    booking_mismatches: list[str] = field(default_factory=list)
    reward_booking_mismatches: list[str] = field(default_factory=list)

    @property
    def balanced(self) -> bool:
        return not (
            self.balance_mismatches
            or self.unbalanced_entries
            or self.negative_accounts
            or self.booking_mismatches
            or self.reward_booking_mismatches
            or any(self.currency_totals.values())
        )

    def lines(self) -> list[str]:
        out = [f"accounts {self.accounts}, entries {self.entries}, postings {self.postings}"]
        for currency, total in sorted(self.currency_totals.items()):
            out.append(f"{currency}: sum of all posted balances {total}")
        out += [f"MISMATCH {m}" for m in self.balance_mismatches[:20]]
        out += [f"UNBALANCED entry {e}" for e in self.unbalanced_entries[:20]]
        out += [f"NEGATIVE {a}" for a in self.negative_accounts[:20]]
        out += [f"MISMATCH {m}" for m in self.booking_mismatches[:20]]
        out += [f"MISMATCH {m}" for m in self.reward_booking_mismatches[:20]]
        out.append("ledger balanced: " + ("yes" if self.balanced else "NO"))
        return out


def check_ledger(conn: Connection) -> LedgerReport:
    report = LedgerReport()
    report.accounts = conn.execute(select(func.count()).select_from(_a)).scalar_one()
    report.entries = conn.execute(select(func.count()).select_from(_e)).scalar_one()
    report.postings = conn.execute(select(func.count()).select_from(_p)).scalar_one()

    # Effective status of each entry: its resolution if any, else how it was written.
    status = func.coalesce(_r.c.status, _e.c.initial_status)
    joined = _p.join(_e, _e.c.id == _p.c.entry_id).outerjoin(_r, _r.c.entry_id == _e.c.id)
    sums = (
        select(
            _p.c.account_id,
            func.sum(case((status == "posted", _p.c.amount), else_=0)).label("posted"),
            func.sum(case((status == "pending", _p.c.amount), else_=0)).label("pending"),
        )
        .select_from(joined)
        .group_by(_p.c.account_id)
        .subquery()
    )
    rows = conn.execute(
        select(
            _a.c.code,
            _a.c.currency,
            _a.c.allow_negative,
            *balance_columns(),
            func.coalesce(sums.c.posted, 0),
            func.coalesce(sums.c.pending, 0),
        ).select_from(_a.outerjoin(sums, sums.c.account_id == _a.c.id))
    )
    totals: dict[str, int] = {}
    for code, currency, allow_negative, cached_posted, cached_pending, posted, pending in rows:
        posted, pending = int(posted), int(pending)
        if (cached_posted, cached_pending) != (posted, pending):
            report.balance_mismatches.append(
                f"{code}: cached posted {cached_posted} pending {cached_pending}, "
                f"postings say posted {posted} pending {pending}"
            )
        if not allow_negative and posted < 0:
            report.negative_accounts.append(f"{code}: {posted}")
        totals[currency] = totals.get(currency, 0) + posted
    report.currency_totals = totals

    report.unbalanced_entries = list(
        conn.execute(
            select(_p.c.entry_id)
            .group_by(_p.c.entry_id, _p.c.currency)
            .having(func.sum(_p.c.amount) != 0)
            .limit(100)
        ).scalars()
    )
    report.unbalanced_entries += list(
        conn.execute(
            select(_e.c.id)
            .select_from(_e.outerjoin(_p, and_(_p.c.entry_id == _e.c.id)))
            .group_by(_e.c.id)
            .having(func.count(_p.c.id) < 2)
            .limit(100)
        ).scalars()
    )
    report.booking_mismatches = booking_mismatches(conn)
    report.reward_booking_mismatches = reward_booking_mismatches(conn)
    return report


def first_accrual_bookings() -> Subquery:
    """(reward_id, first_booked_at) per reward with an accrual booked as posted: the earliest
    booking of its accruals, written posted or resolved posted (`BOOKING_WAYS`)."""
    branches = [
        select(_e.c.reward_id.label("reward_id"), booked_at.label("booked_at"))
        .select_from(with_entry(table, entry_id))
        .where(booked, _e.c.kind.in_(ACCRUAL_KINDS), _e.c.reward_id.is_not(None))
        for table, entry_id, booked_at, booked in BOOKING_WAYS
    ]
    both = union_all(*branches).subquery("booked")
    return (
        select(both.c.reward_id, func.min(both.c.booked_at).label("first_booked_at"))
        .group_by(both.c.reward_id)
        .subquery("first_booked")
    )


def reward_booking_mismatches(conn: Connection) -> list[str]:
    """Rewards whose `booked_at` disagrees with the ledger: set with no accrual booked as
    posted, missing with one, or another time than the first booking. The attribution report
    counts a purchase in the period of `booked_at`, so a wrong one moves it between reports."""
    first = first_accrual_bookings()
    rows = conn.execute(
        select(_rw.c.id, _rw.c.booked_at, first.c.first_booked_at)
        .select_from(_rw.outerjoin(first, first.c.reward_id == _rw.c.id))
        .where(_rw.c.booked_at.is_distinct_from(first.c.first_booked_at))
        .order_by(_rw.c.id)
        .limit(MAX_LISTED)
    )
    return [
        f"reward {reward_id}: booked_at {stored}, its first posted accrual {derived}"
        for reward_id, stored, derived in rows
    ]
