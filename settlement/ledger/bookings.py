"""Daily bookings: the rollup of what was booked as posted to each non-member account.

The ledger writer adds every flush's booked postings to `ledger_daily_booking` in the same
transaction (`DailyBookings`), so a period's statements read a few thousand rows instead of
joining the period's entries to their postings. The rollup is a cache of the postings, like
the cached balances: `recomputed_bookings` derives it from the ledger again, `clo ledger
check` compares the two, and `rebuild_daily_bookings` writes it afresh (the migration that
introduced it, and bulk loads that bypass the writer).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    Date,
    FromClause,
    Select,
    Table,
    cast,
    delete,
    func,
    insert,
    literal,
    literal_column,
    select,
    union_all,
)

from settlement.ledger.bulk import insert_or_add
from settlement.tables import (
    LedgerAccount,
    LedgerDailyBooking,
    LedgerEntry,
    LedgerEntryResolution,
    LedgerPosting,
)

_b = LedgerDailyBooking.__table__
_e = LedgerEntry.__table__
_p = LedgerPosting.__table__
_r = LedgerEntryResolution.__table__
_a = LedgerAccount.__table__

NO_OFFER = 0  # the offer key of entries that belong to no offer (payouts, cash receipts)
KEY = ("booked_on", "account_id", "kind", "offer_id")  # a booking's, summed over its slots
BookingKey = tuple[int, str, int]  # account, entry kind, offer (NO_OFFER for none)
# The two ways an entry is booked as posted, as (table, the entry's id in it, booking time,
# condition): written posted, or written pending and resolved as posted. Voided and
# still-pending entries never are; each entry is booked at most once.
BOOKING_WAYS = (
    (_e, _e.c.id, _e.c.created_at, _e.c.initial_status == "posted"),
    (_r, _r.c.entry_id, _r.c.resolved_at, _r.c.status == "posted"),
)


def with_entry(table: Table, entry_id: ColumnElement[int]) -> FromClause:
    """A booking way's table joined to the ledger entry it books."""
    return _e if table is _e else table.join(_e, _e.c.id == entry_id)


def utc_day(at: datetime) -> date:
    return at.astimezone(UTC).date()


@dataclass(slots=True)
class _Total:
    postings: int
    amount: int
    merchant_id: int | None


class DailyBookings:
    """The postings one flush books as posted, summed per account, entry kind and offer."""

    def __init__(self) -> None:
        self._totals: dict[BookingKey, _Total] = {}

    def add(
        self, account_id: int, kind: str, offer_id: int | None, merchant_id: int | None, amount: int
    ) -> None:
        key = (account_id, kind, NO_OFFER if offer_id is None else offer_id)
        total = self._totals.get(key)
        if total is None:
            # An offer belongs to one merchant; a row of no offer names none.
            self._totals[key] = _Total(1, amount, None if offer_id is None else merchant_id)
        else:
            total.postings += 1
            total.amount += amount

    def write(self, conn: Connection, booked_at: datetime, slot: int = 0) -> None:
        """Add the totals to the day's rows of `slot` (`settlement.ledger.slots`)."""
        day = utc_day(booked_at)
        stored_day = day.isoformat() if conn.dialect.name == "sqlite" else day
        # Keys in order: concurrent writers lock rows in one order (and they hold the
        # accounts' balance locks already, taken first by the writer).
        insert_or_add(
            conn,
            _b,
            (*KEY, "slot"),
            ("postings", "amount"),
            [
                (stored_day, *key, slot, t.postings, t.amount, t.merchant_id)
                for key, t in sorted(self._totals.items(), key=lambda item: item[0])
            ],
            also=("merchant_id",),
        )


def _day_of(conn: Connection, column: ColumnElement[datetime]) -> ColumnElement[date]:
    if conn.dialect.name == "postgresql":
        # A literal zone, not a parameter: GROUP BY must see the same expression as SELECT.
        return cast(func.timezone(literal_column("'UTC'"), column), Date)
    return func.date(column, type_=Date)


def recomputed_bookings(conn: Connection) -> Select[*tuple[Any, ...]]:
    """`ledger_daily_booking` as the postings say it should be: a select of its columns,
    each posting on the day of its entry's booking (`BOOKING_WAYS`)."""
    member_accounts = select(_a.c.id).where(_a.c.owner_type == "member")
    branches = [
        select(
            _day_of(conn, day).label("booked_on"),
            _p.c.account_id,
            _e.c.kind,
            func.coalesce(_e.c.offer_id, NO_OFFER).label("offer_id"),
            func.count().label("postings"),
            func.sum(_p.c.amount).label("amount"),
            func.max(_e.c.merchant_id).filter(_e.c.offer_id.is_not(None)).label("merchant_id"),
        )
        .select_from(with_entry(table, entry_id).join(_p, _p.c.entry_id == _e.c.id))
        .where(booked, _p.c.account_id.not_in(member_accounts))
        .group_by(_day_of(conn, day), _p.c.account_id, _e.c.kind, _e.c.offer_id)
        for table, entry_id, day, booked in BOOKING_WAYS
    ]
    both = union_all(*branches).subquery("booked")
    keys = [both.c[k] for k in KEY]
    return select(
        *keys,
        func.sum(both.c.postings).label("postings"),
        func.sum(both.c.amount).label("amount"),
        func.max(both.c.merchant_id).label("merchant_id"),
    ).group_by(*keys)


def rebuild_daily_bookings(conn: Connection) -> None:
    """Write the whole rollup afresh from the postings."""
    conn.execute(delete(_b))
    query = recomputed_bookings(conn).subquery()
    columns = [*KEY, "postings", "amount", "merchant_id"]
    conn.execute(
        insert(_b).from_select(
            [*columns, "slot"], select(*(query.c[c] for c in columns), literal(0))
        )
    )


def booking_mismatches(conn: Connection) -> list[str]:
    """Every rollup row that differs from what the postings say, described."""

    def rows(
        query: Select[*tuple[Any, ...]],
    ) -> dict[tuple[str, int, str, int], tuple[int, int, int | None]]:
        return {
            (str(r.booked_on), r.account_id, r.kind, r.offer_id): (
                int(r.postings),
                int(r.amount),
                r.merchant_id,
            )
            for r in conn.execute(query)
        }

    keys = [_b.c[c] for c in KEY]
    stored = rows(
        select(
            *keys,
            func.sum(_b.c.postings).label("postings"),
            func.sum(_b.c.amount).label("amount"),
            func.max(_b.c.merchant_id).label("merchant_id"),
        ).group_by(*keys)
    )
    derived = rows(recomputed_bookings(conn))
    out = []
    for key in sorted(set(stored) | set(derived)):
        if stored.get(key) != derived.get(key):
            out.append(
                f"daily booking {key}: stored {stored.get(key)}, postings say {derived.get(key)}"
            )
    return out
