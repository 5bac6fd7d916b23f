"""What the foreign keys card events no longer have (migration 0019) used to guarantee.

The feed writes only ids it has just read (a card and its member from `card`, a merchant
from the offer catalog), and cards, members and merchants are never deleted; this check,
run by `clo ledger check`, proves it of the stored events.
"""

from __future__ import annotations

from sqlalchemy import Connection, exists, func, select

from service.tables import Card, CardEventRow, Member, Merchant

_events = CardEventRow.__table__


def dangling_card_event_references(conn: Connection) -> list[str]:
    """One line per kind of reference that points at nothing, with how many events do."""
    e = _events.c
    out = []
    for column, table in (
        (e.card_id, Card.__table__),
        (e.member_id, Member.__table__),
        (e.merchant_id, Merchant.__table__),
    ):
        missing = conn.execute(
            select(func.count())
            .select_from(_events)
            .where(column.is_not(None), ~exists().where(table.c.id == column))
        ).scalar_one()
        if missing:
            out.append(f"{missing} card events name a {table.name} that does not exist")
    return out
