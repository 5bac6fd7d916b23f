"""Offer budgets: reserved atomically, so concurrent ingest can never overspend.

A feed batch reads what remains without locking, decides, and reserves before it writes: one
conditional update per offer (`reserved + d <= budget`). On PostgreSQL it does so in a short
transaction of its own, committed ahead of the batch (`settlement.budget_holds`), so a budget
row is held for a few statements, not for the batch's writes. If another batch took what this
one counted on, the update refuses and the batch is decided again with the rows locked from
its start (`read_budgets`, in offer id order, so two batches cannot deadlock).
On SQLite the write transaction itself is the lock. The table's CHECKs refuse overspending
even from a caller that forgot to lock.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from sqlalchemy import Connection, Update, bindparam, select, update
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


class BudgetMoved(Exception):
    """Another transaction reserved from a budget this batch counted on since it was read."""

    def __init__(self, offer_ids: Iterable[int]) -> None:
        self.offer_ids = frozenset(offer_ids)
        super().__init__(f"budgets moved since read: offers {sorted(self.offer_ids)}")


def lock_remaining(conn: Connection, offer_ids: Iterable[int]) -> dict[int, Remaining]:
    """What remains of these offers' limits, their rows locked until commit (PostgreSQL)."""
    return read_remaining(conn, offer_ids, lock=True)


def read_budgets(
    conn: Connection, offer_ids: set[int], lock: bool | frozenset[int]
) -> dict[int, Remaining]:
    """Budgets read unlocked, except those `lock` names (all if True): the offers whose
    reservation was refused once, so deciding the batch again cannot be refused twice."""
    locked = offer_ids if lock is True else offer_ids & (lock or frozenset())
    remaining = read_remaining(conn, offer_ids - locked, lock=False)
    remaining.update(read_remaining(conn, locked, lock=True))
    return remaining


def read_remaining(
    conn: Connection, offer_ids: Iterable[int], *, lock: bool
) -> dict[int, Remaining]:
    """What remains of the limits of these offers (those with a limit), locked or not."""
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
        if lock and conn.dialect.name == "postgresql":
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
        by_offer = update(_budgets).where(_budgets.c.offer_id == bindparam("b_offer"))
        execute_many(conn, _add_reserved(by_offer), rows)


def _add_reserved(statement: Update) -> Update:
    c = _budgets.c
    return statement.values(
        reserved_amount=c.reserved_amount + bindparam("b_amount"),
        redemption_count=c.redemption_count + bindparam("b_count"),
    )


def reserve(
    conn: Connection, deltas: Mapping[int, tuple[int, int]], limited: Iterable[int]
) -> dict[int, Remaining]:
    """Add (amount, redemptions) per offer, each within its limits, and return what remained
    of the `limited` offers' budgets just before (for telling who crossed 80%).

    The increases of limited offers go first, as conditional updates (`reserved + d <=
    budget`, likewise for redemptions); then releases and offers without limits, never
    refused. Each group in offer id order, sent together; a row stays locked only until the
    caller commits. If any increase refuses, `BudgetMoved` names the offers that grew: the
    caller rolls back and decides again with them locked.
    """
    limited = set(limited)
    growing = {k: d for k, d in deltas.items() if k in limited and (d[0] > 0 or d[1] > 0)}
    c = _budgets.c
    by_offer = update(_budgets).where(c.offer_id == bindparam("b_offer"))
    within_limits = by_offer.where(
        c.budget_amount.is_(None) | (c.reserved_amount + bindparam("b_amount") <= c.budget_amount),
        c.max_redemptions.is_(None)
        | (c.redemption_count + bindparam("b_count") <= c.max_redemptions),
    )
    rows = [{"b_offer": k, "b_amount": a, "b_count": n} for k, (a, n) in sorted(growing.items())]
    taken = execute_many(conn, _add_reserved(within_limits), rows)
    if taken is not None and taken.rowcount != len(rows):
        raise BudgetMoved(growing)
    apply_reservations(conn, {k: d for k, d in deltas.items() if k not in growing})
    if not growing:
        return {}
    after = read_remaining(conn, growing, lock=False)  # rows this transaction holds
    return {
        k: Remaining(
            None if r.amount is None else r.amount + growing[k][0],
            None if r.redemptions is None else r.redemptions + growing[k][1],
            r.budget_amount,
            r.max_redemptions,
        )
        for k, r in after.items()
    }
