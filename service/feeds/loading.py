"""The load stage: everything deciding one batch needs, read in bulk and frozen.

The decide stage (`service.feeds.batch.BatchState`) then runs without a connection: what it
may touch is here, and a lookup that misses is a bug in this loader, not a query to make.
Rows are locked in a fixed order so concurrent batches, maturation and expiry never deadlock:
the batch's members by id (so one member's batches take turns: caps and counters stay exact),
rewards by id, then (only when a batch is decided again because a budget moved under it)
budgets by offer id, through the reservation's own transaction on PostgreSQL. Budgets are
otherwise read unlocked and reserved once the batch is decided, before it writes
(`settlement.budget_holds`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType
from typing import NamedTuple

from sqlalchemy import Connection

from matching.claims import AcceptedClaim
from matching.events import EventKind
from matching.index import OfferIndex
from matching.match import MemberOfferState as OfferState
from matching.offers import OfferRules
from service.claims.repository import load_open_claims
from service.feeds import context as ctx
from service.offers.catalog import OfferCatalog
from settlement.budget import Remaining, read_budgets
from settlement.budget_holds import BudgetHolds
from settlement.ledger.ids import allocate_ids
from settlement.rewards import RewardBook, RewardRecord
from settlement.tables import Reward

_rewards = Reward.__table__


class MemberProfile(NamedTuple):
    tier: int
    birth_month: int | None


NO_PROFILE = MemberProfile(0, None)


@dataclass(frozen=True, slots=True)
class BatchContext:
    """What deciding a batch may read, loaded before any event is applied."""

    index: OfferIndex
    candidates: Mapping[int, tuple[OfferRules, ...]]  # by event id: offers it may earn
    rules: Mapping[int, OfferRules]  # offers of stored rewards, whatever their status
    members: Mapping[int, MemberProfile]
    activations: Mapping[int, Mapping[int, datetime]]  # member -> offer -> activated at
    # First and last purchase, for the (member, brand) pairs an offer's audience asks about.
    brand_history: Mapping[tuple[int, int], tuple[datetime, datetime]]
    # member -> offer -> counters, for offers that keep them (`OfferRules.keeps_counters`).
    offer_states: Mapping[int, Mapping[int, OfferState]]
    loaded_pairs: frozenset[tuple[int, int]]  # (member, offer) read: absent counters are zero
    remaining: Mapping[int, Remaining]  # offers with a budget or a redemption limit
    rewards: Mapping[int, RewardRecord]  # stored rewards the batch may change (locked)
    reward_ids: tuple[int, ...]  # ids for the rewards the batch may open
    auth_expiry_days: int
    # Missing-cashback claims: member -> accepted claims no card event was matched to yet.
    open_claims: Mapping[int, tuple[AcceptedClaim, ...]] = field(
        default_factory=lambda: MappingProxyType({})
    )


def load_context(
    conn: Connection,
    rows: Sequence,
    index: OfferIndex,
    catalog: OfferCatalog,
    book: RewardBook,
    stored_reward_ids: Iterable[int],
    *,
    auth_expiry_days: int,
    lock_budgets: bool | frozenset[int] = False,
    budgets: BudgetHolds | None = None,
) -> BatchContext:
    """Read, in bulk, what the rows of a batch may need; `book` learns the pending entries and
    available balances of the stored rewards it loads (and locks)."""
    candidates: dict[int, tuple[OfferRules, ...]] = {}
    offer_ids: set[int] = set()
    members: set[int] = set()
    purchasers: set[int] = set()  # members of purchases at a known brand: claims may cover
    brand_pairs: set[tuple[int, int]] = set()  # histories an offer's audience asks about
    pairs: set[tuple[int, int]] = set()  # counters an offer's rules read
    for r in rows:
        if r.event.kind in (EventKind.AUTH, EventKind.CLEARING):
            found = index.candidates(r.event)
            candidates[r.id] = found
            if found:
                members.add(r.member_id)
                for o in found:
                    offer_ids.add(o.offer_id)
                    if o.keeps_counters:
                        pairs.add((r.member_id, o.offer_id))
            if r.merchant_id is not None:
                purchasers.add(r.member_id)
                if any(o.reads_brand_history for o in found):
                    brand_pairs.add((r.member_id, r.merchant_id))
    # Members first (then rewards, budgets, balances): every writer takes locks in this order.
    ctx.lock_members(conn, (r.member_id for r in rows))
    rewards = book.load(conn, set(stored_reward_ids))
    rules: dict[int, OfferRules] = {}
    for record in rewards.values():
        offer_ids.add(record.offer_id)
        members.add(record.member_id)
        if record.offer_id not in rules:
            found_rules = catalog.rules_for(conn, record.offer_id)
            if found_rules is not None:
                rules[record.offer_id] = found_rules
        if record.offer_id in rules and rules[record.offer_id].keeps_counters:
            pairs.add((record.member_id, record.offer_id))
    states = ctx.load_offer_states(conn, pairs)
    # At most one new reward per purchase that has an offer to earn.
    openers = sum(1 for found in candidates.values() if found)
    return BatchContext(
        index=index,
        candidates=MappingProxyType(candidates),
        rules=MappingProxyType(rules),
        members=MappingProxyType(
            {m: MemberProfile(*p) for m, p in ctx.load_members(conn, members).items()}
        ),
        activations=MappingProxyType(ctx.load_activations(conn, members, offer_ids)),
        brand_history=MappingProxyType(ctx.load_brand_history(conn, brand_pairs)),
        offer_states=MappingProxyType(states),
        loaded_pairs=frozenset(pairs),
        remaining=MappingProxyType(
            budgets.read_remaining(offer_ids, lock_budgets)
            if budgets is not None
            else read_budgets(conn, offer_ids, lock_budgets)
        ),
        rewards=MappingProxyType(rewards),
        reward_ids=tuple(allocate_ids(conn, _rewards, openers)),
        auth_expiry_days=auth_expiry_days,
        open_claims=MappingProxyType(load_open_claims(conn, purchasers)),
    )
