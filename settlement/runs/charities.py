"""The charity step: what members donated, paid to each charity's connected account.

Members' donations credit `charity:{id}:payable`. The step plans once (a recovery point):
every charity with a payable balance and somewhere to be paid gets a payout, its money
moved from payable to in transit. Each transfer carries a key derived from the payout; a
transfer that went out moves in transit to cash and the payable is at zero, a refused one
goes back to the payable (deferred when the platform's balance was short, so the next run
pays it; failed when the charity's account cannot take transfers yet).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, insert, select, update

from settlement.ledger.accounts import AccountDirectory, AccountKind
from settlement.ledger.writer import Entry, EntryStatus, LedgerBatch, Posting
from settlement.runs import records
from settlement.runs.payouts import PayTally, payout_status
from settlement.runs.ports import PayoutPort
from settlement.runs.tables import CharityPayout
from settlement.tables import LedgerAccount

_charity_payouts = CharityPayout.__table__
_accounts = LedgerAccount.__table__
CHARITIES_PLANNED = "charities_planned"
_IN_TRANSIT = (AccountKind.PLATFORM_PAYOUTS_IN_TRANSIT, None)


def charity_payout_key(payout_id: int) -> str:
    return f"clo-charity-payout-{payout_id}"


def charity_entry(
    payout_id: int, charity_id: int, amount: int, currency: str, run_id: int, now: datetime,
    *, step: str,
) -> Entry:  # fmt: skip
    """One step of a charity payout: reserve (payable -> in transit), settle (in transit
    -> cash) or return (in transit -> payable); each keyed by payout and step."""
    payable = (AccountKind.CHARITY_PAYABLE, charity_id)
    cash = (AccountKind.PLATFORM_CASH, None)
    source, target = {
        "reserve": (payable, _IN_TRANSIT),
        "settle": (_IN_TRANSIT, cash),
        "return": (_IN_TRANSIT, payable),
    }[step]
    return Entry(
        idempotency_key=f"charity_payout:{payout_id}:{step}",
        kind="charity_payout" if step != "return" else "charity_payout_return",
        status=EntryStatus.POSTED,
        currency=currency,
        postings=(Posting(source[0], source[1], -amount), Posting(target[0], target[1], amount)),
        effective_at=now,
        run_id=run_id,
        memo=f"charity payout {payout_id} {step}",
    )


def plan_charity_payouts(
    engine: Engine, run: Any, payouts: PayoutPort, now: datetime, directory: AccountDirectory
) -> int:
    with engine.begin() as conn:
        if records.step_done(conn, run.id, CHARITIES_PLANNED):
            return 0
        balances = list(
            conn.execute(
                select(_accounts.c.owner_id, _accounts.c.currency, _accounts.c.posted_amount)
                .where(
                    _accounts.c.kind == AccountKind.CHARITY_PAYABLE.value,
                    _accounts.c.posted_amount > 0,
                )
                .order_by(_accounts.c.owner_id, _accounts.c.currency)
            )
        )
        payable = payouts.charities_payable(conn, sorted({b.owner_id for b in balances}))
        batch = LedgerBatch()
        planned = 0
        for charity_id, currency, amount in balances:
            if charity_id not in payable:
                continue
            payout_id: int = conn.execute(
                insert(_charity_payouts)
                .values(
                    run_id=run.id,
                    charity_id=charity_id,
                    currency=currency,
                    amount=int(amount),
                    status="in_transit",
                    created_at=now,
                    updated_at=now,
                )
                .returning(_charity_payouts.c.id)
            ).scalar_one()
            batch.add(
                charity_entry(payout_id, charity_id, int(amount), currency, run.id, now,
                              step="reserve")
            )  # fmt: skip
            planned += 1
        batch.flush(conn, directory, now)
        records.record_step(conn, run.id, CHARITIES_PLANNED, now, detail=f"{planned} charities")
        return planned


def pay_charities(
    engine: Engine,
    run: Any,
    payouts: PayoutPort,
    now: datetime,
    checkpoint: Callable[[str], None],
    directory: AccountDirectory,
) -> PayTally:
    plan_charity_payouts(engine, run, payouts, now, directory)
    tally = PayTally()
    with engine.begin() as conn:
        pending = list(
            conn.execute(
                select(_charity_payouts)
                .where(
                    _charity_payouts.c.run_id == run.id,
                    _charity_payouts.c.status == "in_transit",
                )
                .order_by(_charity_payouts.c.id)
            )
        )
    for payout in pending:
        result = payouts.transfer_to_charity(
            payout.charity_id,
            amount=payout.amount,
            currency=payout.currency,
            payout_id=payout.id,
            idempotency_key=charity_payout_key(payout.id),
        )
        checkpoint("charities:transferred")
        status = payout_status(result)
        with engine.begin() as conn:
            done = conn.execute(
                update(_charity_payouts)
                .where(
                    _charity_payouts.c.id == payout.id,
                    _charity_payouts.c.status == "in_transit",
                )
                .values(
                    status=status,
                    transfer_ref=result.transfer_ref,
                    failure_reason=result.failure_reason,
                    updated_at=now,
                )
            ).rowcount
            if done:
                batch = LedgerBatch()
                batch.add(
                    charity_entry(
                        payout.id, payout.charity_id, payout.amount, payout.currency, run.id, now,
                        step="settle" if result.ok else "return",
                    )
                )  # fmt: skip
                batch.flush(conn, directory, now)
                setattr(tally, status, getattr(tally, status) + 1)
    return tally
