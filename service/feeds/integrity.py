"""What the foreign keys card events no longer have (migration 0019) used to guarantee, and
the tallies the feed keeps beside the events.

The feed writes only ids it has just read (a card and its member from `card`, a merchant
from the offer catalog), and cards, members and merchants are never deleted; this check,
run by `clo ledger check`, proves it of the stored events. It also recounts each reward's
clawback refunds (`Reward.clawback_refund_count`) from the events.
"""

from __future__ import annotations

from sqlalchemy import Connection, exists, func, select

from service.tables import Card, CardEventRow, Member, Merchant
from settlement.tables import Reward

_events = CardEventRow.__table__
_rewards = Reward.__table__
MAX_LISTED = 100


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


def refund_tally_mismatches(conn: Connection) -> list[str]:
    """Rewards whose tally of clawback refunds disagrees with their refund and reversal events
    of outcome `clawback`: the attribution report's refunds are read from the tally."""
    e, r = _events.c, _rewards.c
    counted = (
        select(
            e.reward_id.label("reward_id"),
            func.count().label("n"),
            func.sum(e.amount).label("amount"),
        )
        .where(e.kind.in_(("refund", "reversal")), e.outcome == "clawback")
        .group_by(e.reward_id)
        .subquery("counted")
    )
    n, amount = func.coalesce(counted.c.n, 0), func.coalesce(counted.c.amount, 0)
    rows = conn.execute(
        select(r.id, r.clawback_refund_count, r.clawback_refund_amount, n, amount)
        .select_from(_rewards.outerjoin(counted, counted.c.reward_id == r.id))
        .where((r.clawback_refund_count != n) | (r.clawback_refund_amount != amount))
        .order_by(r.id)
        .limit(MAX_LISTED)
    )
    return [
        f"reward {reward_id}: {count} clawback refunds of {total} tallied, "
        f"the events say {events} of {events_total}"
        for reward_id, count, total, events, events_total in rows
    ]
