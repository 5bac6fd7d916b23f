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
from settlement.tables import OfferBudget

_budgets = OfferBudget.__table__


@dataclass(frozen=True, slots=True)
class Remaining:
    amount: int | None  # None: no budget limit
    redemptions: int | None


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
