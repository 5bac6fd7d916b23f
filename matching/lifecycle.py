"""The money rules of a reward after its purchase was priced: clearing, refunds, presentments.

Pure functions of plain values, each rule in one place. A reward's terms are gross (what the
purchase earned, on the spend priced so far) plus what refunds took back (cumulative), so the
net is always `reward - clawed`, and every rounding goes through `matching.money`.

- A clearing prices the purchase on the cleared amount, then keeps only the share not already
  refunded: a refund before the clearing survives it.
- A refund claws back the refunded share of the purchase; the targets are cumulative, so
  however the refunds are split, rounding never claws back more than was earned.
- A later clearing of an auth that was already cleared is either an incremental clearing
  (a split shipment: the purchase is priced again on all its clearings together and the new
  clearing earns only the difference) or a duplicate presentment (earns nothing), decided by
  the amounts (`classify_clearing`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum

from matching.money import prorate
from matching.offers import OfferKind, OfferRules, commission_for, reward_for_amount

BPS_DENOMINATOR = 10_000


@dataclass(frozen=True, slots=True)
class RewardTerms:
    """What one purchase earned: gross on `spend_amount`, less what refunds clawed back."""

    spend_amount: int
    reward_amount: int
    commission_amount: int
    refunded_spend_amount: int = 0
    clawed_reward_amount: int = 0
    clawed_commission_amount: int = 0

    def __post_init__(self) -> None:
        assert 0 <= self.refunded_spend_amount <= self.spend_amount or self.spend_amount <= 0
        assert 0 <= self.clawed_reward_amount <= max(self.reward_amount, 0), self
        assert 0 <= self.clawed_commission_amount <= max(self.commission_amount, 0), self

    @property
    def net_reward_amount(self) -> int:
        return self.reward_amount - self.clawed_reward_amount

    @property
    def net_commission_amount(self) -> int:
        return self.commission_amount - self.clawed_commission_amount

    @property
    def fully_refunded(self) -> bool:
        return self.refunded_spend_amount >= self.spend_amount


def after_refund(terms: RewardTerms, refund_amount: int) -> RewardTerms:
    """The terms once `refund_amount` more of the purchase is refunded.

    The clawed amounts are the refunded share of the gross, recomputed from the cumulative
    refunded spend: two refunds of 1 never claw back more than one refund of 2.
    """
    assert refund_amount > 0
    refunded = min(terms.spend_amount, terms.refunded_spend_amount + refund_amount)
    return _with_refunded(terms, refunded)


def _with_refunded(terms: RewardTerms, refunded: int) -> RewardTerms:
    spend = terms.spend_amount
    if spend <= 0:
        return replace(terms, refunded_spend_amount=0, clawed_reward_amount=0)
    return replace(
        terms,
        refunded_spend_amount=refunded,
        # Never below what was already clawed: a clawback is not undone by re-rounding.
        clawed_reward_amount=max(
            terms.clawed_reward_amount, prorate(terms.reward_amount, refunded, spend)
        ),
        clawed_commission_amount=max(
            terms.clawed_commission_amount, prorate(terms.commission_amount, refunded, spend)
        ),
    )


def price_at_clearing(
    offer: OfferRules | None,
    terms: RewardTerms,
    *,
    cleared_spend_amount: int,
    purchased_at: datetime,
    birth_month: int | None,
    max_net_reward_amount: int | None,
) -> RewardTerms:
    """The terms of a purchase priced on `cleared_spend_amount` (all its clearings together).

    A cashback offer is priced again on the cleared amount (a tip raises the reward, a smaller
    clearing lowers it); other kinds keep what the qualifying visit earned. What was refunded
    before stays refunded: the net is the gross less the refunded share of it, and at most
    `max_net_reward_amount` (what is reserved for the reward plus what the budget and the
    member's cap leave; None for no limit).
    """
    assert cleared_spend_amount > 0
    if offer is not None and offer.kind is OfferKind.CASHBACK:
        gross = reward_for_amount(offer, cleared_spend_amount, purchased_at, birth_month)
    else:
        gross = terms.reward_amount
    refunded = min(terms.refunded_spend_amount, cleared_spend_amount)

    def priced(reward_amount: int) -> RewardTerms:
        commission = (
            commission_for(offer, cleared_spend_amount, reward_amount)
            if offer is not None
            else terms.commission_amount
        )
        fresh = RewardTerms(cleared_spend_amount, reward_amount, commission)
        return _with_refunded(fresh, refunded) if refunded else fresh

    new = priced(gross)
    limit = max_net_reward_amount
    if limit is None or new.net_reward_amount <= limit:
        return new
    # The largest gross whose net fits: start from the exact share, then step by the cent
    # that rounding may have moved it (the net never decreases as the gross grows).
    kept = cleared_spend_amount - refunded
    reward_amount = min(gross, limit * cleared_spend_amount // kept) if kept else gross
    while reward_amount > 0 and priced(reward_amount).net_reward_amount > limit:
        reward_amount -= 1
    while reward_amount < gross and priced(reward_amount + 1).net_reward_amount <= limit:
        reward_amount += 1
    return priced(reward_amount)


class Presentment(StrEnum):
    FIRST = "first"  # the auth's first clearing
    INCREMENTAL = "incremental"  # a further part of the same purchase (split shipment)
    DUPLICATE = "duplicate"  # the same clearing presented again: earns nothing


def classify_clearing(
    auth_amount: int,
    earlier_clearing_amounts: Sequence[int],
    amount: int,
    *,
    tolerance_bps: int,
) -> Presentment:
    """What a clearing of an auth is, given the auth's earlier clearings.

    Together with the earlier clearings it may reach the authorized amount (plus the link
    tolerance for tips): more is a duplicate presentment. So is a repeat of an earlier
    clearing's amount that would take the total past the authorized amount.
    """
    if not earlier_clearing_amounts:
        return Presentment.FIRST
    total = sum(earlier_clearing_amounts) + amount
    if total * BPS_DENOMINATOR > auth_amount * (BPS_DENOMINATOR + tolerance_bps):
        return Presentment.DUPLICATE
    if total > auth_amount and amount in earlier_clearing_amounts:
        return Presentment.DUPLICATE
    return Presentment.INCREMENTAL
