"""Matching stored Plaid events again once their merchant is mapped to a brand.

Events whose merchant no brand resolved were recorded with outcome `no_offer` and no
merchant. When a merchant maps that name or entity id to its brand (a new brand alias), the
events of the last `window_days` are matched again through the pipeline's own matching
(`BatchState.purchase`, the same code a fresh event goes through: offer windows, activation,
caps, budgets, holdouts, ledger entries), as what they were: a clearing (standalone, or
linked to an auth that earned nothing) as a cleared purchase, an auth that nothing cleared
yet as an authorized one (its clearing, when it comes, links to it and clears the reward).
No new events are made: the stored rows are updated in place (merchant, outcome, reward).

Skipped: events a reversal or refund already follows (nothing to reward any more), auths a
clearing already follows (the clearing is matched instead), and events of cards unlinked
before the purchase (those were never `no_offer`). Each event is claimed with
`UPDATE ... WHERE merchant_id IS NULL` in the same transaction, so two re-matches at once
cannot reward an event twice.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, and_, select, update
from sqlalchemy.engine import Row as SqlRow

from matching.events import CardEvent, EventKind, Source
from service.feeds import context as ctx
from service.feeds.batch import BatchState, Row, reserve_budgets, write_batch_state
from service.feeds.loading import load_context
from service.feeds.originals import event_from_row
from service.linking_tables import PlaidTransaction
from service.offers.catalog import OfferCatalog
from service.tables import CardEventRow
from settlement.ledger.accounts import AccountDirectory
from settlement.rewards import RewardBook

_ev = CardEventRow.__table__
_tx = PlaidTransaction.__table__
MAX_EVENTS = 5_000


@dataclass
class RematchResult:
    examined: int = 0
    rewarded: int = 0
    reward_amount: int = 0


def _candidates(
    conn: Connection, merchant_key: str, since: datetime
) -> Sequence[SqlRow[*tuple[Any, ...]]]:
    e = _ev.c
    follow = _ev.alias("follow")
    return conn.execute(
        select(_ev)
        .join(_tx, _tx.c.event_external_id == e.external_id)
        .where(
            _tx.c.merchant_key == merchant_key,
            e.source == Source.PLAID.value,
            e.merchant_id.is_(None),
            e.kind.in_(("auth", "clearing")),
            e.occurred_at >= since,
            (e.outcome == "no_offer") | and_(e.outcome == "no_reward", e.reason == "no_offer"),
            ~select(follow.c.id).where(follow.c.linked_event_id == e.id).exists(),
        )
        .order_by(e.occurred_at, e.id)
        .limit(MAX_EVENTS)
    ).all()


def _event(r, merchant_key: str) -> CardEvent:
    """The event as it arrived; the merchant key stands in for a brand hint it did not carry."""
    event = event_from_row(r, Source.PLAID)
    return event if event.brand_hint else replace(event, brand_hint=merchant_key)


def rematch(
    conn: Connection,
    merchant_key: str,
    now: datetime,
    *,
    window_days: int,
    auth_expiry_days: int,
    catalog: OfferCatalog | None = None,
) -> RematchResult:
    """Match again the stored events of `merchant_key` (now an alias); in the caller's
    transaction."""
    result = RematchResult()
    catalog = catalog or OfferCatalog()
    index = catalog.current(conn)
    rows: list[Row] = []
    for n, r in enumerate(_candidates(conn, merchant_key, now - timedelta(days=window_days))):
        event = _event(r, merchant_key)
        brand = index.brand_for(event)
        if brand is None:
            continue
        claimed = conn.execute(
            update(_ev)
            .where(_ev.c.id == r.id, _ev.c.merchant_id.is_(None))
            .values(merchant_id=brand)
        ).rowcount
        if claimed == 1:
            rows.append(
                Row(n, event, r.member_id, brand, id=r.id, linked_event_id=r.linked_event_id)
            )
    result.examined = len(rows)
    if not rows:
        return result
    book = RewardBook(now=now)
    # Rare and in the caller's transaction: budgets locked from the start, so reserving cannot
    # be refused.
    context = load_context(
        conn, rows, index, catalog, book, (), auth_expiry_days=auth_expiry_days, lock_budgets=True
    )
    batch = BatchState(context, book)
    cards = ctx.load_cards(conn, (r.event.card_id for r in rows))
    for row in rows:
        _member_id, status, unlinked_at = cards[row.event.card_id]
        if status != "active" and (unlinked_at is None or row.event.occurred_at >= unlinked_at):
            row.outcome, row.reason = "not_matched", "card_unlinked"
            continue
        batch.purchase(row, cleared=row.event.kind is EventKind.CLEARING)
    book.flush(conn, AccountDirectory())
    write_batch_state(conn, batch)
    reserve_budgets(conn, batch)
    for row in rows:
        conn.execute(
            update(_ev)
            .where(_ev.c.id == row.id)
            .values(
                outcome=row.outcome,
                reason=row.reason,
                reward_id=row.reward_id,
                decisions_json=json.dumps(row.decisions, separators=(",", ":")),
            )
        )
        if row.outcome == "rewarded":
            result.rewarded += 1
            result.reward_amount += row.reward_amount
    return result
