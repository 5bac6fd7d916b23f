"""Booking an accepted claim: the feed's rules, caps, budget and ledger, for a purchase that
came as a member's word instead of a card event.

The purchase is priced by `matching.match` on the merchant's offers open on the claimed day
(`matching.claims`), against the member's counters and the offers' remaining budget read and
locked as the feed's load stage reads them (the member first, as a feed batch locks its
members, then `lock_remaining`, `load_offer_states`); the winner
opens a posted reward in the `RewardBook` (entry kind `manual_accrual`), and the reservation
and counters are written by the same functions the feed's write stage uses.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection

from matching.claims import claimed_purchase_at, rules_for_claim
from matching.events import CardEvent, Channel, EventKind, Source
from matching.match import MatchContext, match
from matching.offers import OfferRules
from service.claims import repository as repo
from service.claims.tables import Claim
from service.feeds import context as ctx
from service.feeds.batch import explain
from service.offers.catalog import OfferCatalog
from settlement.budget import apply_reservations, lock_remaining
from settlement.ledger.accounts import AccountDirectory
from settlement.ledger.ids import allocate_ids
from settlement.rewards import RewardBook, RewardRecord, RewardState
from settlement.runs.statements import MANUAL_ACCRUAL
from settlement.tables import Reward


@dataclass(frozen=True, slots=True)
class Booked:
    offer_id: int
    reward_id: int
    reward_amount: int
    commission_amount: int


@dataclass(frozen=True, slots=True)
class NotBooked:
    reason: str  # the match reason: budget_exhausted, member_cap_reached, outside_window, ...
    offer_id: int | None


def claim_offers(conn: Connection, claim: Claim) -> list[tuple[OfferRules, datetime]]:
    """The merchant's offers whose window covers the claimed day, each with the moment the
    purchase is priced at for it."""
    catalog = OfferCatalog()
    out = []
    for offer_id in repo.claimable_offer_ids(conn, claim.merchant_id):
        rules = catalog.rules_for(conn, offer_id)
        if rules is None:
            continue
        at = claimed_purchase_at(rules, claim.purchase_date)
        if at is not None:
            out.append((rules_for_claim(rules), at))
    return out


def _claim_event(claim: Claim, at: datetime) -> CardEvent:
    assert claim.id is not None
    return CardEvent(
        source=Source.FILE,
        external_id=f"claim:{claim.id}",
        kind=EventKind.CLEARING,
        card_id=claim.card_id,
        amount=claim.spend_amount,
        currency=claim.currency,
        occurred_at=at,
        mid=None,
        acquirer_id=None,
        descriptor=None,
        merchant_name=None,
        mcc=None,
        country=None,
        postal_code=None,
        brand_hint=None,
        channel=Channel.IN_STORE,
        original_external_id=None,
    )


def _last_purchase_before(
    history: dict[tuple[int, int], tuple[datetime, datetime]], key: tuple[int, int], at: datetime
) -> datetime | None:
    first, last = history.get(key, (None, None))
    for t in (last, first):  # only first and last are stored: the latest strictly before
        if t is not None and t < at:
            return t
    return None


def book_claim(
    conn: Connection, claim: Claim, *, now: datetime, directory: AccountDirectory
) -> Booked | NotBooked:
    """Price the claimed purchase and, if an offer pays, book it as a posted reward."""
    offers = claim_offers(conn, claim)
    if not offers:
        return NotBooked("no_offer_in_window", None)
    # One purchase, one moment: the latest any offer allows (an offer that ended earlier that
    # day is then outside its window, as the feed would have found at that time).
    at = max(at for _, at in offers)
    candidates = [rules for rules, _ in offers]
    offer_ids = {o.offer_id for o in candidates}
    member_id, merchant_id = claim.member_id, claim.merchant_id
    profiles = ctx.load_members(conn, {member_id})
    tier, birth_month = profiles.get(member_id, (0, None))
    ctx.lock_members(conn, {member_id})  # a feed batch of this member waits, and vice versa
    remaining = lock_remaining(conn, offer_ids)
    history = ctx.load_brand_history(conn, {(member_id, merchant_id)})
    result = match(
        _claim_event(claim, at),
        candidates,
        MatchContext(
            member_id=member_id,
            member_tier=tier,
            birth_month=birth_month,
            activations=ctx.load_activations(conn, {member_id}, offer_ids).get(member_id, {}),
            last_brand_purchase_at=_last_purchase_before(history, (member_id, merchant_id), at),
            offer_states=ctx.load_offer_states(conn, {(member_id, o) for o in offer_ids}).get(
                member_id, {}
            ),
            budget_remaining={k: v.amount for k, v in remaining.items() if v.amount is not None},
            redemptions_remaining={
                k: v.redemptions for k, v in remaining.items() if v.redemptions is not None
            },
        ),
    )
    winner = result.winner
    if winner is None:
        first = result.decisions[0].offer_id if result.decisions else None
        return NotBooked(explain(result.decisions) or "no_offer_in_window", first)
    offer = next(o for o in candidates if o.offer_id == winner.offer_id)
    (reward_id,) = allocate_ids(conn, Reward.__table__, 1)
    book = RewardBook(now=now)
    book.open(
        RewardRecord(
            id=reward_id,
            member_id=member_id,
            offer_id=offer.offer_id,
            merchant_id=offer.merchant_id,
            currency=offer.currency,
            state=RewardState.CLEARED,
            auth_event_id=None,
            clearing_event_id=None,
            spend_amount=claim.spend_amount,
            reward_amount=winner.reward_amount,
            commission_amount=winner.commission_amount,
            occurred_at=at,
            hold_days=offer.hold_days,
        ),
        event_id=None,
        auth_expiry_days=0,
        entry_kind=MANUAL_ACCRUAL,
    )
    book.flush(conn, directory)
    apply_reservations(conn, {offer.offer_id: (winner.reward_amount, 1)})
    ctx.add_offer_state_deltas(
        conn,
        {
            (member_id, offer.offer_id): [
                1,
                winner.reward_amount,
                int(winner.stamp_counted),
                winner.threshold_spend_counted,
                int(winner.threshold_spend_counted > 0),
            ]
        },
    )
    return Booked(offer.offer_id, reward_id, winner.reward_amount, winner.commission_amount)
