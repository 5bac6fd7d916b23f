"""Offer budgets: reserved atomically, so concurrent ingest can never overspend.

A batch locks the budget rows of the offers it may reward (in offer id order, so two batches
cannot deadlock), reads what remains, matches, then applies its reservations before commit.
On SQLite the write transaction itself is the lock. The table's CHECKs refuse overspending
even from a caller that forgot to lock.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from sqlalchemy import Connection, bindparam, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from settlement.ledger.bulk import execute_many, one_of
from settlement.outbox import OutboxEventType
from settlement.tables import OfferBudget

_budgets = OfferBudget.__table__


@dataclass(frozen=True, slots=True)
class Remaining:
    amount: int | None  # None: no budget limit
    redemptions: int | None
    # The limits themselves, for telling when a batch crosses a share of them.
    budget_amount: int | None = None
    max_redemptions: int | None = None


# An offer whose reservations reach this share of its budget is running low (merchants and
# partners are told once, when a batch crosses it).
BUDGET_LOW_BPS = 8_000


def budget_alerts(
    remaining: Remaining, reserved_delta: int, redemptions_delta: int
) -> list[OutboxEventType]:
    """What a batch that reserved these deltas crossed, given what remained before it.

    Budget 10,000 with 7,900 reserved: reserving 100 more crosses 80% (low); 2,000 more also
    exhausts it. A release (negative delta) crosses nothing; a limit already crossed before
    the batch is not told again.
    """
    crossed: list[OutboxEventType] = []
    if remaining.budget_amount is not None and remaining.amount is not None and reserved_delta > 0:
        before = remaining.budget_amount - remaining.amount
        after = before + reserved_delta
        low = remaining.budget_amount * BUDGET_LOW_BPS
        if before * 10_000 < low <= after * 10_000:
            crossed.append(OutboxEventType.OFFER_BUDGET_LOW)
        if before < remaining.budget_amount <= after:
            crossed.append(OutboxEventType.OFFER_BUDGET_EXHAUSTED)
    if (
        remaining.max_redemptions is not None
        and remaining.redemptions is not None
        and redemptions_delta > 0
        and remaining.redemptions > 0
        and remaining.redemptions - redemptions_delta <= 0
        and OutboxEventType.OFFER_BUDGET_EXHAUSTED not in crossed
    ):
        crossed.append(OutboxEventType.OFFER_BUDGET_EXHAUSTED)
    return crossed


def ensure_budget(
    conn: Connection,
    *,
    offer_id: int,
    currency: str,
    budget_amount: int | None,
    max_redemptions: int | None,
) -> None:
    """Create or change an offer's limits. A limit can't drop below what is already reserved."""
    insert = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
    stmt = insert(_budgets).values(
        offer_id=offer_id,
        currency=currency,
        budget_amount=budget_amount,
        max_redemptions=max_redemptions,
        reserved_amount=0,
        redemption_count=0,
    )
    conn.execute(
        stmt.on_conflict_do_update(
            index_elements=["offer_id"],
            set_={"budget_amount": budget_amount, "max_redemptions": max_redemptions},
        )
    )


def lock_remaining(conn: Connection, offer_ids: Iterable[int]) -> dict[int, Remaining]:
    ids = sorted(set(offer_ids))
    out: dict[int, Remaining] = {}
    for start in range(0, len(ids), 5000):
        query = (
            select(
                _budgets.c.offer_id,
                _budgets.c.budget_amount,
                _budgets.c.reserved_amount,
                _budgets.c.max_redemptions,
                _budgets.c.redemption_count,
            )
            .where(
                one_of(conn, _budgets.c.offer_id, ids[start : start + 5000]),
                (_budgets.c.budget_amount.is_not(None)) | (_budgets.c.max_redemptions.is_not(None)),
            )
            .order_by(_budgets.c.offer_id)
        )
        if conn.dialect.name == "postgresql":
            query = query.with_for_update()
        for offer_id, budget, reserved, max_redemptions, redeemed in conn.execute(query):
            out[offer_id] = Remaining(
                None if budget is None else budget - reserved,
                None if max_redemptions is None else max_redemptions - redeemed,
                budget,
                max_redemptions,
            )
    return out


def apply_reservations(conn: Connection, deltas: Mapping[int, tuple[int, int]]) -> None:
    """Add (amount, redemptions) per offer; negative deltas release what was reserved."""
    rows = [
        {"b_offer": k, "b_amount": a, "b_count": n}
        for k, (a, n) in sorted(deltas.items())
        if a or n
    ]
    if rows:
        execute_many(
            conn,
            update(_budgets)
            .where(_budgets.c.offer_id == bindparam("b_offer"))
            .values(
                reserved_amount=_budgets.c.reserved_amount + bindparam("b_amount"),
                redemption_count=_budgets.c.redemption_count + bindparam("b_count"),
            ),
            rows,
        )
