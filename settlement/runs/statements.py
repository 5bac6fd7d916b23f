"""Statements per merchant and offer, aggregated in the database from the ledger.

A period settles what was *booked* in it, not what happened in it: a posting belongs to the
period in which it became posted in the ledger, that is

- an entry written posted: its `created_at`;
- a pending entry resolved as posted: its resolution's `resolved_at` (its `effective_at`,
  the time of the auth, may lie in an earlier period that was settled while it was pending);
- a pending entry voided, or still pending: never.

Every posted movement is therefore billed exactly once over consecutive periods, however late
it clears. A line sums the entries of one offer booked in the period: accruals (qualified
purchases: cashback plus commission the merchant owes) and clawbacks (refunds); a purchase
counts, with its spend, in the period in which its accrual was booked as posted. A merchant's
statement adds the cash it paid in the period, so that

    net_amount - payments_amount == -(movement of merchant:{id}:receivable booked in the period)

exactly, per currency (the receivable is a debit account: what is owed is negative).

Everything is grouped in the database. Every amount comes from the daily booking rollup the
ledger writer keeps in the transaction that books each posting (a few rows per offer and day;
`clo ledger check` recomputes it from the postings); spend and members come from one pass
over the accruals booked in the period and their rewards, since distinct members do not add
up across days. See DESIGN.md, Settlement runs.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    FromClause,
    Row,
    Select,
    and_,
    case,
    func,
    insert,
    select,
    true,
    union_all,
)

from settlement.ledger.accounts import AccountKind
from settlement.ledger.bookings import BOOKING_WAYS, NO_OFFER, utc_day, with_entry
from settlement.runs.tables import (
    MerchantCredit,
    MerchantInvoice,
    SettlementStatement,
    SettlementStatementLine,
)
from settlement.tables import (
    LedgerAccount,
    LedgerDailyBooking,
    LedgerEntry,
    Reward,
)

_b = LedgerDailyBooking.__table__
_e = LedgerEntry.__table__
_a = LedgerAccount.__table__
_rw = Reward.__table__
_lines = SettlementStatementLine.__table__
_statements = SettlementStatement.__table__
_invoices = MerchantInvoice.__table__
_credits = MerchantCredit.__table__

RECEIVABLE = AccountKind.MERCHANT_RECEIVABLE.value
REVENUE = AccountKind.PLATFORM_REVENUE.value
# An accepted missing-cashback claim books its reward as a `manual_accrual`: it counts in the
# line like a purchase and again in the line's manual figures, so a statement shows it apart.
MANUAL_ACCRUAL = "manual_accrual"
ACCRUAL_KINDS = ("accrual", MANUAL_ACCRUAL)
LINE_KINDS = (*ACCRUAL_KINDS, "clawback")
FIGURES = (
    "qualified_count",
    "spend_amount",
    "cashback_amount",
    "commission_amount",
    "clawback_count",
    "clawback_cashback_amount",
    "clawback_commission_amount",
    "net_amount",
)


def merchant_credit(net_amount: int) -> int:
    """What a period with more refunds than charges leaves the merchant as credit: a net of
    -250 (a $40.00 purchase at 5% + 20% commission refunded in the next period) is a credit
    of 250; a positive net is billed and leaves none."""
    return -net_amount if net_amount < 0 else 0


@dataclass(frozen=True, slots=True)
class StatementTotals:
    merchants: int
    lines: int
    total_amount: int  # what will be billed: the sum of positive net amounts


def _booked_sources(
    conn: Connection, start: datetime, end: datetime
) -> list[tuple[FromClause, ColumnElement[bool]]]:
    """Where the entries booked as posted in [start, end) are found, as (from clause,
    condition) pairs over `ledger_entry`: the two `BOOKING_WAYS`, in the period.

    PostgreSQL gets the two ways as two branches, each joined and aggregated on its own: it
    hash-joins, and each branch then filters by its own scan. SQLite joins by nested loops,
    so it gets the union of the booked ids in id order, reading entries and rewards page
    after page instead of at random (the indexes give booking-time order)."""
    in_period = [
        (table, entry_id, and_(booked, at >= start, at < end))
        for table, entry_id, at, booked in BOOKING_WAYS
    ]
    if conn.dialect.name == "postgresql":
        return [(with_entry(table, entry_id), where) for table, entry_id, where in in_period]
    booked = (
        union_all(*(select(entry_id.label("entry_id")).where(w) for _, entry_id, w in in_period))
        .order_by("entry_id")
        .subquery("booked")
    )
    return [(booked.join(_e, _e.c.id == booked.c.entry_id), true())]


def _days(start: datetime, end: datetime) -> tuple[date, date]:
    """The UTC days [first, last) a period covers; a statement period is whole days."""
    for bound in (start, end):
        if bound.astimezone(UTC).time() != time():
            raise ValueError(f"a statement period starts and ends at midnight UTC, not {bound}")
    return utc_day(start), utc_day(end)


def booking_query(start: datetime, end: datetime) -> Select[*tuple[Any, ...]]:
    """Per offer, account and entry kind: the postings booked as posted in the period to
    accounts that are not a member's, from the daily rollup the ledger writer keeps
    (`settlement.ledger.bookings`); every amount of the lines and each receivable's whole
    movement. What the members received is minus the rest, since an entry sums to zero."""
    first, last = _days(start, end)
    keys = (_b.c.offer_id, _b.c.account_id, _b.c.kind)
    return (
        select(
            *keys,
            func.max(_b.c.merchant_id).label("merchant_id"),
            func.sum(_b.c.postings).label("postings"),
            func.sum(_b.c.amount).label("amount"),
        )
        .where(_b.c.booked_on >= first, _b.c.booked_on < last)
        .group_by(*keys)
    )


def purchase_query(conn: Connection, start: datetime, end: datetime) -> Select[*tuple[Any, ...]]:
    """Per offer: the purchases whose accrual was booked as posted in the period, their
    spend (from the reward) and how many members made them."""
    rows = [
        select(
            _e.c.offer_id,
            _e.c.merchant_id,
            _e.c.currency,
            _e.c.member_id,
            _e.c.kind,
            _rw.c.spend_amount,
        )
        .select_from(source.outerjoin(_rw, _rw.c.id == _e.c.reward_id))
        .where(booked, _e.c.kind.in_(ACCRUAL_KINDS), _e.c.offer_id.is_not(None))
        for source, booked in _booked_sources(conn, start, end)
    ]
    both = union_all(*rows).subquery("booked") if len(rows) > 1 else rows[0].subquery("booked")
    manual_spend = case((both.c.kind == MANUAL_ACCRUAL, both.c.spend_amount), else_=0)
    return select(
        both.c.offer_id,
        func.max(both.c.merchant_id).label("merchant_id"),
        func.max(both.c.currency).label("currency"),
        func.coalesce(func.sum(both.c.spend_amount), 0).label("spend_amount"),
        func.coalesce(func.sum(manual_spend), 0).label("manual_spend_amount"),
        func.count(func.distinct(both.c.member_id)).label("unique_member_count"),
    ).group_by(both.c.offer_id)


MANUAL_FIGURES = (
    "manual_count",
    "manual_spend_amount",
    "manual_cashback_amount",
    "manual_commission_amount",
)
LINE_KIND_PURCHASES = "purchases"
LINE_KIND_MANUAL = "manual_adjustment"


def line_kinds(line: Mapping[str, Any]) -> list[tuple[str, dict[str, int]]]:
    """A statement line as the kinds of line it is shown as: the purchases the feed saw (and
    every clawback), then the manual adjustments of accepted missing-cashback claims. Their
    figures add up to the line's: a manual adjustment's net is its cashback plus commission,
    what the merchant owes for it."""
    count = int(line["manual_count"])
    manual = dict.fromkeys(FIGURES, 0)
    manual.update(
        qualified_count=count,
        spend_amount=int(line["manual_spend_amount"]),
        cashback_amount=int(line["manual_cashback_amount"]),
        commission_amount=int(line["manual_commission_amount"]),
        net_amount=int(line["manual_cashback_amount"]) + int(line["manual_commission_amount"]),
    )
    purchases = {name: int(line[name]) - manual[name] for name in FIGURES}
    if not count:
        return [(LINE_KIND_PURCHASES, purchases)]
    kinds = [(LINE_KIND_PURCHASES, purchases)] if any(purchases.values()) else []
    return [*kinds, (LINE_KIND_MANUAL, manual)]


def _new_line() -> dict[str, int]:
    return {
        **dict.fromkeys(FIGURES, 0),
        "unique_member_count": 0,
        **dict.fromkeys(MANUAL_FIGURES, 0),
    }


def _aggregate(
    conn: Connection, start: datetime, end: datetime
) -> tuple[dict[tuple[int, int, str], dict[str, int]], dict[tuple[int, str], list[int]]]:
    """Lines keyed by (merchant, offer, currency); receivable [movement, payments] keyed by
    (merchant, currency)."""
    if conn.dialect.name == "postgresql":
        # Room to join and sort the period in memory, and no JIT compilation: it costs more
        # than it saves on queries this short (this transaction only).
        conn.exec_driver_sql("SET LOCAL work_mem = '256MB'")
        conn.exec_driver_sql("SET LOCAL jit = off")
    accounts = {
        a.id: a
        for a in conn.execute(
            select(_a.c.id, _a.c.kind, _a.c.owner_id, _a.c.currency).where(
                _a.c.owner_type != "member"
            )
        )
    }
    lines: dict[tuple[int, int, str], dict[str, int]] = defaultdict(_new_line)
    movements: dict[tuple[int, str], list[int]] = defaultdict(lambda: [0, 0])
    for row in conn.execute(booking_query(start, end)):
        account, amount, postings = accounts[row.account_id], int(row.amount), int(row.postings)
        if account.kind == RECEIVABLE:
            moved = movements[(account.owner_id, account.currency)]
            moved[0] += amount
            if row.kind == "cash_receipt":
                moved[1] += amount
        if row.kind not in LINE_KINDS or row.offer_id == NO_OFFER or row.merchant_id is None:
            continue
        line = lines[(row.merchant_id, row.offer_id, account.currency)]
        accrual = row.kind in ACCRUAL_KINDS
        manual = row.kind == MANUAL_ACCRUAL
        # The members' side of the entries: minus every other posting (entries balance).
        line["cashback_amount" if accrual else "clawback_cashback_amount"] += (
            -amount if accrual else amount
        )
        if account.kind == RECEIVABLE:
            line["net_amount"] -= amount
            line["qualified_count" if accrual else "clawback_count"] += postings
        elif account.kind == REVENUE:
            if accrual:
                line["commission_amount"] += amount
            else:
                line["clawback_commission_amount"] -= amount
        if manual:
            line["manual_cashback_amount"] -= amount
            if account.kind == RECEIVABLE:
                line["manual_count"] += postings
            elif account.kind == REVENUE:
                line["manual_commission_amount"] += amount
    for row in conn.execute(purchase_query(conn, start, end)):
        line = lines[(row.merchant_id, row.offer_id, row.currency)]
        line["spend_amount"] = int(row.spend_amount)
        line["manual_spend_amount"] = int(row.manual_spend_amount)
        line["unique_member_count"] = int(row.unique_member_count)
    return lines, movements


def compute_statements(
    conn: Connection, run_id: int, start: datetime, end: datetime, now: datetime
) -> StatementTotals:
    """Write the run's statements, lines and planned invoices (replacing none: the caller
    runs this once, in the step's transaction)."""
    by_line, by_receivable = _aggregate(conn, start, end)
    ordered = sorted(by_line.items(), key=lambda item: item[0])
    lines: list[dict[str, object]] = [
        {"merchant_id": m, "offer_id": o, "currency": c, **figures}
        for (m, o, c), figures in ordered
    ]
    per_merchant: dict[tuple[int, str], dict[str, int]] = defaultdict(
        lambda: dict.fromkeys(FIGURES, 0)
    )
    for (merchant_id, _, currency), figures in ordered:
        totals = per_merchant[(merchant_id, currency)]
        for name in FIGURES:
            totals[name] += figures[name]
    movements = {key: (moved[0], moved[1]) for key, moved in by_receivable.items()}
    statements: list[dict[str, object]] = []
    invoices: list[dict[str, object]] = []
    total_amount = 0  # what will be billed: the sum of positive net amounts
    for key in sorted(set(per_merchant) | set(movements)):
        movement, payments = movements.get(key, (0, 0))
        figures = per_merchant.get(key) or dict.fromkeys(FIGURES, 0)
        statements.append(
            {
                "run_id": run_id,
                "merchant_id": key[0],
                "currency": key[1],
                **figures,
                "payments_amount": payments,
                "receivable_movement_amount": movement,
                "credit_amount": merchant_credit(figures["net_amount"]),
            }
        )
        if figures["net_amount"] > 0:
            invoices.append(
                {
                    "run_id": run_id,
                    "merchant_id": key[0],
                    "currency": key[1],
                    "amount": figures["net_amount"],
                    "status": "planned",
                    "updated_at": now,
                }
            )
            total_amount += figures["net_amount"]
    if lines:
        conn.execute(insert(_lines), [{"run_id": run_id, **line} for line in lines])
    if statements:
        conn.execute(insert(_statements), statements)
    if invoices:
        conn.execute(insert(_invoices), invoices)
    credits = [
        {
            "run_id": run_id,
            "merchant_id": s["merchant_id"],
            "currency": s["currency"],
            "amount": s["credit_amount"],
            "status": "planned",
            "updated_at": now,
        }
        for s in statements
        if int(s["credit_amount"]) > 0  # type: ignore[call-overload]
    ]
    if credits:
        conn.execute(insert(_credits), credits)
    return StatementTotals(merchants=len(statements), lines=len(lines), total_amount=total_amount)


def statement_lines(
    conn: Connection, run_id: int, merchant_id: int | None = None
) -> list[Row[*tuple[Any, ...]]]:
    query = select(_lines).where(_lines.c.run_id == run_id)
    if merchant_id is not None:
        query = query.where(_lines.c.merchant_id == merchant_id)
    return list(
        conn.execute(query.order_by(_lines.c.merchant_id, _lines.c.offer_id, _lines.c.currency))
    )
