"""The payout step: members' available cashback above a minimum goes to their accounts.

Planning is one transaction: the payouts are chosen and their money moved from available
to in transit together, every 'available -> in transit' entry of the run at once (a recovery
point). Each transfer then carries a key derived from the payout; the outcomes (settled, or
returned to available) are written with their transfer ids a batch at a time, in one
transaction per batch. A crash between a transfer and its batch's write leaves the payout in
transit: the resumed run asks again with the same key, and the port finds the transfer it
made (by the key stored with it) instead of making another, so nobody is paid twice.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine, bindparam, insert, select, update

from settlement.ledger.accounts import AccountDirectory, AccountKind
from settlement.ledger.bulk import one_of
from settlement.ledger.ids import allocate_ids
from settlement.ledger.writer import LedgerBatch
from settlement.outbox import OutboxEventType, OutboxRow, outbox_row, write_outbox
from settlement.runs import records
from settlement.runs.money import payout_reserve, payout_returned, payout_settled
from settlement.runs.ports import PayoutPort, TransferResult
from settlement.runs.records import AnyRow, RunRecord
from settlement.runs.tables import MemberPayout
from settlement.tables import LedgerAccount

_payouts = MemberPayout.__table__
_accounts = LedgerAccount.__table__
PLAN_CHUNK = 5000
PAY_BATCH = 200  # transfers whose outcomes are written in one transaction


def payout_key(payout_id: int) -> str:
    return f"clo-payout-{payout_id}"


def plan_payouts(
    engine: Engine,
    run: RunRecord,
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


@dataclass(slots=True)
class PayTally:
    paid: int = 0
    failed: int = 0  # refused for good (the account cannot receive transfers), or reversed
    deferred: int = 0  # the platform's balance was short: the next run pays them

    def detail(self) -> str:
        return f"{self.paid} paid, {self.failed} failed, {self.deferred} deferred"


def payout_status(result: TransferResult) -> str:
    """paid | deferred (money back to available, paid by the next run) | failed."""
    if result.ok:
        return "paid"
    return "deferred" if result.retry_later else "failed"


def payout_event(payout: AnyRow, result: TransferResult, run_id: int, now: datetime) -> OutboxRow:
    """payout.paid or payout.failed, written with the outcome it tells."""
    return outbox_row(
        OutboxEventType.PAYOUT_PAID if result.ok else OutboxEventType.PAYOUT_FAILED,
        occurred_at=now,
        now=now,
        member_id=payout.member_id,
        amount_minor=payout.amount,
        currency=payout.currency,
        data={
            "payout_id": payout.id,
            "run_id": run_id,
            **({} if result.ok else {"failure_reason": result.failure_reason}),
        },
    )


def pay_members(
    engine: Engine,
    run: RunRecord,
    payouts: PayoutPort,
    now: datetime,
    checkpoint: Callable[[str], None],
    directory: AccountDirectory,
) -> PayTally:
    """Transfer every payout still in transit."""
    tally = PayTally()
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
                    .limit(PAY_BATCH)
                )
            )
        if not chunk:
            return tally
        last_id = chunk[-1].id
        results: list[tuple[AnyRow, TransferResult]] = []
        for payout in chunk:
            result = payouts.transfer(
                payout.member_id,
                amount=payout.amount,
                currency=payout.currency,
                payout_id=payout.id,
                idempotency_key=payout_key(payout.id),
            )
            checkpoint("pay:transferred")
            results.append((payout, result))
        _record_transfers(engine, run, results, now, directory, tally)


def _record_transfers(
    engine: Engine,
    run: RunRecord,
    results: list[tuple[AnyRow, TransferResult]],
    now: datetime,
    directory: AccountDirectory,
    tally: PayTally,
) -> None:
    """Write a batch of transfer outcomes: ledger entries and payout rows, in one transaction.
    Payouts another caller recorded meanwhile are left alone (checked inside the
    transaction), so each outcome is written once."""
    with engine.begin() as conn:
        ids = [payout.id for payout, _ in results]
        still = set(
            conn.execute(
                select(_payouts.c.id).where(
                    one_of(conn, _payouts.c.id, ids), _payouts.c.status == "in_transit"
                )
            ).scalars()
        )
        batch, rows, told = LedgerBatch(), [], []
        for payout, result in results:
            if payout.id not in still:
                continue
            args = (payout.id, payout.member_id, payout.amount, payout.currency, run.id, now)
            batch.add(payout_settled(*args) if result.ok else payout_returned(*args))
            status = payout_status(result)
            rows.append(
                {
                    "b_id": payout.id,
                    "b_status": status,
                    "b_ref": result.transfer_ref,
                    "b_reason": result.failure_reason,
                }
            )
            setattr(tally, status, getattr(tally, status) + 1)
            if status != "deferred":  # a deferred payout is paid by the next run: not news
                told.append(payout_event(payout, result, run.id, now))
        if not rows:
            return
        batch.flush(conn, directory, now)
        write_outbox(conn, told)
        conn.execute(
            update(_payouts)
            .where(_payouts.c.id == bindparam("b_id"), _payouts.c.status == "in_transit")
            .values(
                status=bindparam("b_status"),
                transfer_ref=bindparam("b_ref"),
                failure_reason=bindparam("b_reason"),
                updated_at=now,
            ),
            rows,
        )
