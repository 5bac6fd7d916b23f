"""The payout step: members' available cashback above a minimum goes to their accounts.

Planning is one transaction: the payouts are chosen and their money moved from available
to in transit together (a recovery point). Each transfer then carries a key derived from
the payout, and its outcome (settled, or returned to available) is written with the
transfer id in one transaction.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from sqlalchemy import Engine, insert, select, update

from settlement.ledger.accounts import AccountDirectory, AccountKind
from settlement.ledger.ids import allocate_ids
from settlement.ledger.writer import LedgerBatch, post_entry
from settlement.runs import records
from settlement.runs.money import payout_reserve, payout_returned, payout_settled
from settlement.runs.ports import PayoutPort
from settlement.runs.tables import MemberPayout
from settlement.tables import LedgerAccount

_payouts = MemberPayout.__table__
_accounts = LedgerAccount.__table__
PLAN_CHUNK = 5000


def payout_key(payout_id: int) -> str:
    return f"clo-payout-{payout_id}"


def plan_payouts(
    engine: Engine,
    run,
    payouts: PayoutPort,
    *,
    minimum_amount: int,
    now: datetime,
    directory: AccountDirectory,
) -> int:
    """Choose the payouts and reserve their money, once (a recovery point)."""
    with engine.begin() as conn:
        if records.step_done(conn, run.id, records.PAYOUTS_PLANNED):
            return 0
        balances = list(
            conn.execute(
                select(_accounts.c.owner_id, _accounts.c.currency, _accounts.c.posted_amount)
                .where(
                    _accounts.c.kind == AccountKind.MEMBER_AVAILABLE.value,
                    _accounts.c.posted_amount >= max(minimum_amount, 1),
                )
                .order_by(_accounts.c.owner_id, _accounts.c.currency)
            )
        )
        payable = payouts.payable(conn, sorted({b.owner_id for b in balances}))
        chosen = [b for b in balances if b.owner_id in payable]
        ids = allocate_ids(conn, _payouts, len(chosen))
        rows, batch = [], LedgerBatch()
        for n, (member_id, currency, amount) in zip(ids, chosen, strict=True):
            rows.append(
                {
                    "id": n,
                    "run_id": run.id,
                    "member_id": member_id,
                    "currency": currency,
                    "amount": int(amount),
                    "status": "in_transit",
                    "created_at": now,
                    "updated_at": now,
                }
            )
            batch.add(payout_reserve(n, member_id, int(amount), currency, run.id, now))
        for start in range(0, len(rows), PLAN_CHUNK):
            conn.execute(insert(_payouts), rows[start : start + PLAN_CHUNK])
        batch.flush(conn, directory, now)
        records.record_step(
            conn, run.id, records.PAYOUTS_PLANNED, now, detail=f"{len(rows)} payouts"
        )
        return len(rows)


def pay_members(
    engine: Engine,
    run,
    payouts: PayoutPort,
    now: datetime,
    checkpoint: Callable[[str], None],
    directory: AccountDirectory,
) -> tuple[int, int]:
    """Transfer every payout still in transit; returns (paid, failed)."""
    paid = failed = 0
    last_id = 0
    while True:
        with engine.begin() as conn:
            chunk = list(
                conn.execute(
                    select(_payouts)
                    .where(
                        _payouts.c.run_id == run.id,
                        _payouts.c.status == "in_transit",
                        _payouts.c.id > last_id,
                    )
                    .order_by(_payouts.c.id)
                    .limit(500)
                )
            )
        if not chunk:
            return paid, failed
        last_id = chunk[-1].id
        for payout in chunk:
            result = payouts.transfer(
                payout.member_id,
                amount=payout.amount,
                currency=payout.currency,
                payout_id=payout.id,
                idempotency_key=payout_key(payout.id),
            )
            checkpoint("pay:transferred")
            args = (payout.id, payout.member_id, payout.amount, payout.currency, run.id, now)
            with engine.begin() as conn:
                entry = payout_settled(*args) if result.ok else payout_returned(*args)
                post_entry(conn, directory, entry, now)
                conn.execute(
                    update(_payouts)
                    .where(_payouts.c.id == payout.id, _payouts.c.status == "in_transit")
                    .values(
                        status="paid" if result.ok else "failed",
                        transfer_ref=result.transfer_ref,
                        failure_reason=result.failure_reason,
                        updated_at=now,
                    )
                )
            if result.ok:
                paid += 1
            else:
                failed += 1
