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

Everything is computed in one pass over the postings of the entries booked in the period,
found through the indexes on `ledger_entry.created_at` and
`ledger_entry_resolution.resolved_at`, and grouped in the database. See DESIGN.md,
Settlement runs.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, and_, func, insert, or_, select, union_all

from settlement.ledger.accounts import AccountKind
from settlement.runs.tables import (
    MerchantInvoice,
    SettlementStatement,
    SettlementStatementLine,
)
from settlement.tables import (
    LedgerAccount,
    LedgerEntry,
    LedgerEntryResolution,
    LedgerPosting,
    Reward,
)

_e = LedgerEntry.__table__
_p = LedgerPosting.__table__
_a = LedgerAccount.__table__
_r = LedgerEntryResolution.__table__
_rw = Reward.__table__
_lines = SettlementStatementLine.__table__
_statements = SettlementStatement.__table__
_invoices = MerchantInvoice.__table__

RECEIVABLE = AccountKind.MERCHANT_RECEIVABLE.value
REVENUE = AccountKind.PLATFORM_REVENUE.value
LINE_KINDS = ("accrual", "clawback")
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


@dataclass(frozen=True, slots=True)
class StatementTotals:
    merchants: int
    lines: int
    total_amount: int  # what will be billed: the sum of positive net amounts


def booked_entries(start: datetime, end: datetime, *, in_id_order: bool = False):
    """The ids of the entries that became posted in [start, end): written posted then, or
    pending entries resolved as posted then. Each entry is in at most one period."""
    written = select(_e.c.id.label("entry_id")).where(
        _e.c.created_at >= start, _e.c.created_at < end, _e.c.initial_status == "posted"
    )
    resolved = select(_r.c.entry_id.label("entry_id")).where(
        _r.c.resolved_at >= start, _r.c.resolved_at < end, _r.c.status == "posted"
    )
    booked = union_all(written, resolved)
    if in_id_order:
        # SQLite joins by nested loops: in id order they read entries, postings and rewards
        # page after page instead of at random (the index gives booking-time order).
        # PostgreSQL hash-joins and needs no order.
        booked = booked.order_by("entry_id")
    return booked.subquery("booked")


def posting_query(start: datetime, end: datetime, *, in_id_order: bool = False):
    """One pass over the postings booked in the period, grouped by entry kind, merchant,
    offer and account: every amount of the lines and each receivable's whole movement.

    Only postings to accounts that are not a member's are read: an entry's postings sum to
    zero, so what its members received is minus the sum of the others (member accounts are
    most of the postings, and the cheapest rows are the ones never grouped)."""
    booked = booked_entries(start, end, in_id_order=in_id_order)
    joined = (
        booked.join(_e, _e.c.id == booked.c.entry_id)
        .join(_p, _p.c.entry_id == _e.c.id)
        .join(_a, and_(_a.c.id == _p.c.account_id, _a.c.owner_type != "member"))
    )
    keys = (_e.c.kind, _e.c.merchant_id, _e.c.offer_id, _e.c.currency, _p.c.account_id)
    return (
        select(*keys, func.count().label("postings"), func.sum(_p.c.amount).label("amount"))
        .select_from(joined)
        .where(or_(_e.c.kind.in_(LINE_KINDS), _a.c.kind == RECEIVABLE))
        .group_by(*keys)
    )


def purchase_query(start: datetime, end: datetime, *, in_id_order: bool = False):
    """Per merchant, offer and currency: the purchases whose accrual was booked as posted in
    the period, their spend (from the reward) and how many members made them."""
    booked = booked_entries(start, end, in_id_order=in_id_order)
    joined = booked.join(_e, _e.c.id == booked.c.entry_id).outerjoin(
        _rw, _rw.c.id == _e.c.reward_id
    )
    keys = (_e.c.merchant_id, _e.c.offer_id, _e.c.currency)
    return (
        select(
            *keys,
            func.coalesce(func.sum(_rw.c.spend_amount), 0).label("spend_amount"),
            func.count(func.distinct(_e.c.member_id)).label("unique_member_count"),
        )
        .select_from(joined)
        .where(_e.c.kind == "accrual", _e.c.offer_id.is_not(None), _e.c.merchant_id.is_not(None))
        .group_by(*keys)
    )


def _new_line() -> dict[str, int]:
    return {**dict.fromkeys(FIGURES, 0), "unique_member_count": 0}


def _aggregate(conn: Connection, start: datetime, end: datetime) -> tuple[dict, dict]:
    """Lines keyed by (merchant, offer, currency); receivable [movement, payments] keyed by
    (merchant, currency)."""
    ordered = conn.dialect.name == "sqlite"
    if conn.dialect.name == "postgresql":
        # Room to hash-aggregate the period in memory (this transaction only).
        conn.exec_driver_sql("SET LOCAL work_mem = '64MB'")
    rows = list(conn.execute(posting_query(start, end, in_id_order=ordered)))
    account_ids = sorted({row.account_id for row in rows})
    accounts = {
        a.id: a
        for a in conn.execute(
            select(_a.c.id, _a.c.kind, _a.c.owner_id).where(_a.c.id.in_(account_ids))
        )
    }
    lines: dict[tuple[int, int, str], dict[str, int]] = defaultdict(_new_line)
    movements: dict[tuple[int, str], list[int]] = defaultdict(lambda: [0, 0])
    for row in rows:
        account, amount, postings = accounts[row.account_id], int(row.amount), int(row.postings)
        if account.kind == RECEIVABLE:
            moved = movements[(account.owner_id, row.currency)]
            moved[0] += amount
            if row.kind == "cash_receipt":
                moved[1] += amount
        if row.kind not in LINE_KINDS or row.offer_id is None or row.merchant_id is None:
            continue
        line = lines[(row.merchant_id, row.offer_id, row.currency)]
        accrual = row.kind == "accrual"
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
    for row in conn.execute(purchase_query(start, end, in_id_order=ordered)):
        line = lines[(row.merchant_id, row.offer_id, row.currency)]
        line["spend_amount"] = int(row.spend_amount)
        line["unique_member_count"] = int(row.unique_member_count)
    return lines, movements


def compute_statements(
    conn: Connection, run_id: int, start: datetime, end: datetime, now: datetime
) -> StatementTotals:
    """Write the run's statements, lines and planned invoices (replacing none: the caller
    runs this once, in the step's transaction)."""
    by_line, by_receivable = _aggregate(conn, start, end)
    lines = [
        {"merchant_id": m, "offer_id": o, "currency": c, **figures}
        for (m, o, c), figures in sorted(by_line.items())
    ]
    per_merchant: dict[tuple[int, str], dict[str, int]] = defaultdict(
        lambda: dict.fromkeys(FIGURES, 0)
    )
    for line in lines:
        totals = per_merchant[(line["merchant_id"], line["currency"])]
        for name in FIGURES:
            totals[name] += line[name]
    movements = {key: (moved[0], moved[1]) for key, moved in by_receivable.items()}
    statements = []
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
            }
        )
    if lines:
        conn.execute(insert(_lines), [{"run_id": run_id, **line} for line in lines])
    if statements:
        conn.execute(insert(_statements), statements)
    invoices = [
        {
            "run_id": run_id,
            "merchant_id": s["merchant_id"],
            "currency": s["currency"],
            "amount": s["net_amount"],
            "status": "planned",
            "updated_at": now,
        }
        for s in statements
        if s["net_amount"] > 0
    ]
    if invoices:
        conn.execute(insert(_invoices), invoices)
    return StatementTotals(
        merchants=len(statements),
        lines=len(lines),
        total_amount=sum(i["amount"] for i in invoices),
    )


def statement_lines(conn: Connection, run_id: int, merchant_id: int | None = None) -> list:
    query = select(_lines).where(_lines.c.run_id == run_id)
    if merchant_id is not None:
        query = query.where(_lines.c.merchant_id == merchant_id)
    return list(
        conn.execute(query.order_by(_lines.c.merchant_id, _lines.c.offer_id, _lines.c.currency))
    )
