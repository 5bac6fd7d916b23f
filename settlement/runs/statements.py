"""Statements per merchant and offer, aggregated in the database from the ledger.

A line sums the posted entries of one offer whose `effective_at` falls in the period:
accruals (qualified purchases: cashback plus commission the merchant owes) and clawbacks
(refunds). A merchant's statement adds the cash it paid in the period, so that

    net_amount - payments_amount == -(movement of merchant:{id}:receivable in the period)

exactly, per currency (the receivable is a debit account: what is owed is negative).

An entry counts with the status it has when the statement is computed: an auth from the
period still pending then (not cleared yet) is not billed in this period, and, being dated
in it, not in the next one either. Runs therefore settle a week only after its clearings
are in (the scheduler runs on Monday for the week before; auths older than
`auth_expiry_days` expire). See DESIGN.md, Settlement runs.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, and_, case, func, insert, select

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


def _posted_in(start: datetime, end: datetime):
    status = func.coalesce(_r.c.status, _e.c.initial_status)
    return and_(_e.c.effective_at >= start, _e.c.effective_at < end, status == "posted")


def _sum_if(condition, value):
    return func.coalesce(func.sum(case((condition, value), else_=0)), 0)


def line_query(start: datetime, end: datetime):
    """Per merchant, offer and currency, every figure of a statement line: one GROUP BY."""
    accrual, clawback = _e.c.kind == "accrual", _e.c.kind == "clawback"
    receivable, revenue = _a.c.kind == RECEIVABLE, _a.c.kind == REVENUE
    member = _a.c.owner_type == "member"
    joined = (
        _p.join(_e, _e.c.id == _p.c.entry_id)
        .join(_a, _a.c.id == _p.c.account_id)
        .outerjoin(_r, _r.c.entry_id == _e.c.id)
        .outerjoin(_rw, and_(_rw.c.id == _e.c.reward_id, accrual, receivable))
    )
    return (
        select(
            _e.c.merchant_id,
            _e.c.offer_id,
            _e.c.currency,
            _sum_if(accrual & receivable, 1).label("qualified_count"),
            _sum_if(accrual & receivable, func.coalesce(_rw.c.spend_amount, 0)).label(
                "spend_amount"
            ),
            _sum_if(accrual & member, _p.c.amount).label("cashback_amount"),
            _sum_if(accrual & revenue, _p.c.amount).label("commission_amount"),
            _sum_if(clawback & receivable, 1).label("clawback_count"),
            _sum_if(clawback & member, -_p.c.amount).label("clawback_cashback_amount"),
            _sum_if(clawback & revenue, -_p.c.amount).label("clawback_commission_amount"),
            _sum_if(receivable, -_p.c.amount).label("net_amount"),
        )
        .select_from(joined)
        .where(
            _posted_in(start, end),
            _e.c.offer_id.is_not(None),
            _e.c.merchant_id.is_not(None),
            _e.c.kind.in_(["accrual", "clawback"]),
        )
        .group_by(_e.c.merchant_id, _e.c.offer_id, _e.c.currency)
    )


def receivable_query(start: datetime, end: datetime):
    """The whole movement of each merchant's receivable in the period, and its cash part."""
    joined = (
        _p.join(_e, _e.c.id == _p.c.entry_id)
        .join(_a, _a.c.id == _p.c.account_id)
        .outerjoin(_r, _r.c.entry_id == _e.c.id)
    )
    return (
        select(
            _a.c.owner_id.label("merchant_id"),
            _a.c.currency,
            func.coalesce(func.sum(_p.c.amount), 0).label("movement"),
            _sum_if(_e.c.kind == "cash_receipt", _p.c.amount).label("payments"),
        )
        .select_from(joined)
        .where(_posted_in(start, end), _a.c.kind == RECEIVABLE)
        .group_by(_a.c.owner_id, _a.c.currency)
    )


def compute_statements(
    conn: Connection, run_id: int, start: datetime, end: datetime, now: datetime
) -> StatementTotals:
    """Write the run's statements, lines and planned invoices (replacing none: the caller
    runs this once, in the step's transaction)."""
    lines = [dict(row._mapping) for row in conn.execute(line_query(start, end))]
    per_merchant: dict[tuple[int, str], dict[str, int]] = defaultdict(
        lambda: dict.fromkeys(FIGURES, 0)
    )
    for line in lines:
        totals = per_merchant[(line["merchant_id"], line["currency"])]
        for name in FIGURES:
            line[name] = int(line[name])
            totals[name] += line[name]
    movements = {
        (row.merchant_id, row.currency): (int(row.movement), int(row.payments))
        for row in conn.execute(receivable_query(start, end))
    }
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
