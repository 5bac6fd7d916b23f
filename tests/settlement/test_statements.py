"""Statements reconcile exactly to the ledger: per merchant, the net amount less payments
equals the movement of its receivable account booked in the period (entries written posted
in it, pending entries resolved as posted in it)."""

from __future__ import annotations

from sqlalchemy import select

from infra.standins.stripe_standin import StripeStandin
from settlement.ledger.accounts import AccountKind
from settlement.runs.tables import (
    MerchantInvoice,
    SettlementStatement,
    SettlementStatementLine,
)
from settlement.tables import LedgerAccount, LedgerEntry, LedgerEntryResolution, LedgerPosting
from tests.settlement.settle_world import SETTLED_AT, build_world, link_payout_accounts

A, E, P, R = (
    LedgerAccount.__table__,
    LedgerEntry.__table__,
    LedgerPosting.__table__,
    LedgerEntryResolution.__table__,
)


def booked_at(initial, created_at, resolved, resolved_at):
    """When an entry became posted, or None if it never did."""
    if initial == "posted":
        return created_at
    return resolved_at if resolved == "posted" else None


def receivable_movements(conn, start, end) -> dict[int, int]:
    """Independently: each merchant receivable's posted movement booked in [start, end)."""
    rows = conn.execute(
        select(
            A.c.owner_id,
            P.c.amount,
            E.c.initial_status,
            E.c.created_at,
            R.c.status,
            R.c.resolved_at,
        )
        .select_from(P.join(E, E.c.id == P.c.entry_id).join(A, A.c.id == P.c.account_id))
        .outerjoin(R, R.c.entry_id == E.c.id)
        .where(A.c.kind == AccountKind.MERCHANT_RECEIVABLE.value)
    )
    out: dict[int, int] = {}
    for merchant_id, amount, initial, created_at, resolved, resolved_at in rows:
        at = booked_at(initial, created_at, resolved, resolved_at)
        if at is not None and start <= at < end:
            out[merchant_id] = out.get(merchant_id, 0) + amount
    return out


def test_statements_reconcile_to_the_receivable_accounts(engine):
    sw = build_world(engine, events=3000, seed=9)
    with StripeStandin() as stripe:
        link_payout_accounts(sw, stripe)
        # A payment inside the period makes the receivable move by more than the charges.
        assert sw.runner().settle(sw.period, SETTLED_AT).status == "closed"
        with engine.connect() as conn:
            statements = list(conn.execute(select(SettlementStatement.__table__)))
            lines = list(conn.execute(select(SettlementStatementLine.__table__)))
            movements = receivable_movements(conn, sw.period.start, sw.period.end)
            invoices = {
                r.merchant_id: r.amount for r in conn.execute(select(MerchantInvoice.__table__))
            }
            accruals = sum(
                1
                for row in conn.execute(
                    select(E.c.initial_status, E.c.created_at, R.c.status, R.c.resolved_at)
                    .select_from(E.outerjoin(R, R.c.entry_id == E.c.id))
                    .where(E.c.kind == "accrual")
                )
                if (at := booked_at(*row)) is not None and sw.period.start <= at < sw.period.end
            )
    assert statements, "the feed produced qualified purchases in the period"
    assert {s.merchant_id for s in statements} == set(movements)
    for s in statements:
        assert s.net_amount - s.payments_amount == -movements[s.merchant_id]
        assert s.receivable_movement_amount == movements[s.merchant_id]
        mine = [line for line in lines if line.merchant_id == s.merchant_id]
        for name in ("qualified_count", "spend_amount", "cashback_amount", "net_amount"):
            assert getattr(s, name) == sum(getattr(line, name) for line in mine)
        assert s.net_amount == (
            s.cashback_amount
            + s.commission_amount
            - s.clawback_cashback_amount
            - s.clawback_commission_amount
        )
        if s.net_amount > 0:
            assert invoices[s.merchant_id] == s.net_amount
    assert sum(s.qualified_count for s in statements) == accruals
    assert any(s.clawback_count for s in statements), "refunds in the feed"
    assert all(line.spend_amount > 0 for line in lines if line.qualified_count)
