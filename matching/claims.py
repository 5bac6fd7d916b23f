"""Missing-cashback claims: which offers a claimed purchase could have earned, when it is
taken to have happened, and whether a later card event is that same purchase.

Pure, like the rest of `matching`: a claim names a merchant, a day, an amount and a currency,
never a time of day or a terminal, so an offer is open to it when the offer's window covers
any part of that day on the merchant's wall clock.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta

from matching.events import CardEvent
from matching.offers import OfferRules, zone

# A card event is the claimed purchase when its day lies this close to the claimed day: a
# member remembers the day of a purchase, the network may book it a day or two later.
CLAIM_DATE_WINDOW_DAYS = 3
# The amount tolerance of linking a clearing to its auth (`matching.linking`): tips and
# batching move a card event's amount away from the receipt's as much.
CLAIM_AMOUNT_TOLERANCE_BPS = 2_500
_INSTANT = timedelta(microseconds=1)


@dataclass(frozen=True, slots=True)
class AcceptedClaim:
    """An accepted claim no card event has been matched to yet."""

    claim_id: int
    member_id: int
    merchant_id: int
    spend_amount: int
    currency: str
    purchase_date: date


def claimed_purchase_at(offer: OfferRules, purchase_date: date) -> datetime | None:
    """The moment a claimed purchase is priced at for `offer`: the last instant of the day on
    the merchant's clock that lies inside the offer's window (the latest, so an activation
    earlier that day counts), or None when the window misses the day altogether."""
    tz = zone(offer.timezone)
    day_start = datetime.combine(purchase_date, time(), tzinfo=tz)
    latest = datetime.combine(purchase_date + timedelta(days=1), time(), tzinfo=tz) - _INSTANT
    if offer.ends_at is not None:
        latest = min(latest, offer.ends_at - _INSTANT)
    if latest < offer.starts_at or latest < day_start:
        return None
    return latest.astimezone(UTC)


def rules_for_claim(offer: OfferRules) -> OfferRules:
    """The offer's rules as a claim is priced by: a claim carries no time of day, terminal or
    channel, so day parts, off-peak bonuses, locations and channel are left to the person who
    accepts it (they see the receipt); every other rule, cap and budget still applies."""
    return replace(offer, dayparts=(), bonus_windows=(), location_mids=None, channel=None)


def claim_covers(claim: AcceptedClaim, member_id: int, merchant_id: int, event: CardEvent) -> bool:
    """Whether `event` (a purchase of `member_id` at `merchant_id`) is the claimed purchase."""
    if (
        claim.member_id != member_id
        or claim.merchant_id != merchant_id
        or claim.currency != event.currency
    ):
        return False
    if abs((event.occurred_at.date() - claim.purchase_date).days) > CLAIM_DATE_WINDOW_DAYS:
        return False
    # Cross-multiplied so the tolerance test is exact integer arithmetic.
    difference = abs(event.amount - claim.spend_amount)
    return difference * 10_000 <= CLAIM_AMOUNT_TOLERANCE_BPS * claim.spend_amount


def covering_claim(
    claims: Sequence[AcceptedClaim], member_id: int, merchant_id: int, event: CardEvent
) -> AcceptedClaim | None:
    """The claim `event` was already paid through, if any: among several, the closest amount,
    then the closest day, then the oldest claim."""
    best: AcceptedClaim | None = None
    best_key: tuple[int, int, int] | None = None
    for claim in claims:
        if not claim_covers(claim, member_id, merchant_id, event):
            continue
        key = (
            abs(event.amount - claim.spend_amount),
            abs((event.occurred_at.date() - claim.purchase_date).days),
            claim.claim_id,
        )
        if best_key is None or key < best_key:
            best, best_key = claim, key
    return best
