"""Deciding, for one card event, which candidate offers qualify and which one pays.

Every candidate gets a `Decision` with a machine-readable reason, so a member (or support)
can always see why a purchase did or did not earn cashback. The checks run in a fixed
order and the first failing one is the reason.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from types import MappingProxyType
from typing import Never

from matching.events import CardEvent
from matching.offers import (
    Audience,
    OfferKind,
    OfferRules,
    RewardType,
    commission_for,
    in_holdout,
    reward_for_local,
    zone,
)

_EMPTY: Mapping[int, Never] = MappingProxyType({})


def _empty() -> Mapping[int, Never]:
    return _EMPTY


@dataclass(frozen=True, slots=True)
class MemberOfferState:
    """A member's running counters on one offer, as of just before the event."""

    reward_count: int = 0
    reward_amount: int = 0
    stamp_count: int = 0
    threshold_spend_amount: int = 0
    threshold_paid: bool = False


_NO_STATE = MemberOfferState()


@dataclass(frozen=True, slots=True)
class MatchContext:
    """What is known about the member and the offers' remaining room at the event's time.

    `budget_remaining` and `redemptions_remaining` only hold offers that have a limit.
    """

    member_id: int
    member_tier: int = 0
    birth_month: int | None = None
    activations: Mapping[int, datetime] = field(default_factory=_empty)
    last_brand_purchase_at: datetime | None = None
    offer_states: Mapping[int, MemberOfferState] = field(default_factory=_empty)
    budget_remaining: Mapping[int, int] = field(default_factory=_empty)
    redemptions_remaining: Mapping[int, int] = field(default_factory=_empty)


class Reason(StrEnum):
    QUALIFIED = "qualified"
    CURRENCY_MISMATCH = "currency_mismatch"
    OUTSIDE_WINDOW = "outside_window"
    WRONG_CHANNEL = "wrong_channel"
    DAYPART = "daypart"
    HOLDOUT = "holdout"
    TIER_TOO_LOW = "tier_too_low"
    NOT_ACTIVATED = "not_activated"
    ACTIVATED_AFTER_PURCHASE = "activated_after_purchase"
    NOT_NEW_CUSTOMER = "not_new_customer"
    NOT_LAPSED_CUSTOMER = "not_lapsed_customer"
    NOT_EXISTING_CUSTOMER = "not_existing_customer"
    BELOW_MIN_SPEND = "below_min_spend"
    MEMBER_CAP_REACHED = "member_cap_reached"
    MEMBER_AMOUNT_CAP_REACHED = "member_amount_cap_reached"
    REDEMPTIONS_EXHAUSTED = "redemptions_exhausted"
    STAMP_PROGRESS = "stamp_progress"
    THRESHOLD_PROGRESS = "threshold_progress"
    THRESHOLD_ALREADY_PAID = "threshold_already_paid"
    BUDGET_EXHAUSTED = "budget_exhausted"
    ZERO_REWARD = "zero_reward"
    OUTBID = "outbid"


@dataclass(frozen=True, slots=True)
class Decision:
    """The outcome for one candidate offer.

    `stamp_counted` and `threshold_spend_counted` say what the caller adds to the member's
    counters: set for the winner and for progress decisions, never for an outbid offer.
    """

    offer_id: int
    reason: Reason
    reward_amount: int = 0
    commission_amount: int = 0
    stamp_counted: bool = False
    threshold_spend_counted: int = 0

    @property
    def qualified(self) -> bool:
        return self.reason is Reason.QUALIFIED


@dataclass(frozen=True, slots=True)
class MatchResult:
    decisions: tuple[Decision, ...]
    winner: Decision | None

    def decision_for(self, offer_id: int) -> Decision | None:
        for decision in self.decisions:
            if decision.offer_id == offer_id:
                return decision
        return None


_NO_CANDIDATES = MatchResult((), None)


class _LocalClock:
    """The event's time on a merchant's wall clock, converted at most once per time zone.

    Candidates of one event nearly always share the merchant's zone, and most offers need
    no local time at all, so the conversion is done lazily and remembered.
    """

    __slots__ = ("_local", "_utc", "_zone_name")

    def __init__(self, utc: datetime) -> None:
        self._utc = utc
        self._zone_name = ""
        self._local = utc

    def at(self, zone_name: str) -> datetime:
        if zone_name != self._zone_name:
            self._local = self._utc.astimezone(zone(zone_name))
            self._zone_name = zone_name
        return self._local


def _decide(event: CardEvent, offer: OfferRules, ctx: MatchContext, clock: _LocalClock) -> Decision:
    offer_id = offer.offer_id
    if offer.currency != event.currency:
        return Decision(offer_id, Reason.CURRENCY_MISMATCH)
    at = event.occurred_at
    if at < offer.starts_at or (offer.ends_at is not None and at >= offer.ends_at):
        return Decision(offer_id, Reason.OUTSIDE_WINDOW)
    if offer.channel is not None and offer.channel != event.channel:
        return Decision(offer_id, Reason.WRONG_CHANNEL)
    if offer.dayparts:
        local = clock.at(offer.timezone)
        for part in offer.dayparts:
            if part.contains(local):
                break
        else:
            return Decision(offer_id, Reason.DAYPART)
    # Control members are observed, not rewarded; they never see the offer, so asking
    # whether they activated it would be meaningless.
    if offer.holdout_bps and in_holdout(offer_id, ctx.member_id, offer.holdout_bps):
        return Decision(offer_id, Reason.HOLDOUT)
    if ctx.member_tier < offer.min_member_tier:
        return Decision(offer_id, Reason.TIER_TOO_LOW)
    if offer.activation_required:
        activated_at = ctx.activations.get(offer_id)
        if activated_at is None:
            return Decision(offer_id, Reason.NOT_ACTIVATED)
        if activated_at > at:
            return Decision(offer_id, Reason.ACTIVATED_AFTER_PURCHASE)
    audience = offer.audience
    if audience is not Audience.EVERYONE:
        last = ctx.last_brand_purchase_at
        recent = last is not None and last >= at - timedelta(days=offer.lookback_days)
        if audience is Audience.NEW:
            if recent:
                return Decision(offer_id, Reason.NOT_NEW_CUSTOMER)
        elif audience is Audience.LAPSED:
            if last is None or recent:
                return Decision(offer_id, Reason.NOT_LAPSED_CUSTOMER)
        elif not recent:
            return Decision(offer_id, Reason.NOT_EXISTING_CUSTOMER)
    amount = event.amount
    if amount < offer.min_spend_amount:
        return Decision(offer_id, Reason.BELOW_MIN_SPEND)
    count_cap = offer.member_max_rewards
    amount_cap = offer.member_max_reward_amount
    kind = offer.kind
    # Plain cashback without member caps keeps no counters; most offers are that.
    state = ctx.offer_states.get(offer_id, _NO_STATE) if offer.keeps_counters else _NO_STATE
    if count_cap is not None and state.reward_count >= count_cap:
        return Decision(offer_id, Reason.MEMBER_CAP_REACHED)
    if amount_cap is not None and state.reward_amount >= amount_cap:
        return Decision(offer_id, Reason.MEMBER_AMOUNT_CAP_REACHED)
    redemptions = ctx.redemptions_remaining.get(offer_id)
    if redemptions is not None and redemptions <= 0:
        return Decision(offer_id, Reason.REDEMPTIONS_EXHAUSTED)

    stamp_counted = False
    spend_counted = 0
    reward_base = amount
    if kind is OfferKind.STAMP_CARD:
        stamp_counted = True
        every_n = offer.stamp_every_n or 1
        if (state.stamp_count + 1) % every_n:
            return Decision(offer_id, Reason.STAMP_PROGRESS, stamp_counted=True)
    elif kind is OfferKind.SPEND_THRESHOLD:
        if state.threshold_paid:
            return Decision(offer_id, Reason.THRESHOLD_ALREADY_PAID)
        spend_counted = amount
        total_spend = state.threshold_spend_amount + amount
        if total_spend < (offer.threshold_amount or 0):
            return Decision(offer_id, Reason.THRESHOLD_PROGRESS, threshold_spend_counted=amount)
        if offer.reward_type is RewardType.PERCENT:
            # A percent threshold offer pays on the spend that reached the threshold,
            # not on the last purchase alone.
            reward_base = total_spend

    bonus_local: datetime | None = None
    if offer.bonus_windows or (offer.birthday_bonus_bps and ctx.birth_month is not None):
        bonus_local = clock.at(offer.timezone)
    reward = reward_for_local(offer, reward_base, bonus_local, ctx.birth_month)
    if amount_cap is not None and reward > amount_cap - state.reward_amount:
        reward = amount_cap - state.reward_amount
    budget = ctx.budget_remaining.get(offer_id)
    if budget is not None:
        if budget <= 0:
            return Decision(offer_id, Reason.BUDGET_EXHAUSTED)
        if reward > budget:
            reward = budget
    if reward <= 0:
        return Decision(offer_id, Reason.ZERO_REWARD)
    return Decision(
        offer_id,
        Reason.QUALIFIED,
        reward,
        commission_for(offer, amount, reward),
        stamp_counted,
        spend_counted,
    )


def match(event: CardEvent, candidates: Sequence[OfferRules], ctx: MatchContext) -> MatchResult:
    """A decision per candidate, in candidate order, and the one winner (if any).

    One reward per event: the highest reward wins, a tie goes to the newest offer (later
    `created_at`, then larger id). Other qualifying offers become OUTBID with nothing paid
    and nothing counted, so a stamp or threshold they would have taken stays available.
    """
    if not candidates:
        return _NO_CANDIDATES
    clock = _LocalClock(event.occurred_at)
    decisions: list[Decision] = []
    winner: Decision | None = None
    winner_offer: OfferRules | None = None
    qualified = 0
    for offer in candidates:
        decision = _decide(event, offer, ctx, clock)
        decisions.append(decision)
        if decision.reason is not Reason.QUALIFIED:
            continue
        qualified += 1
        if (
            winner is None
            or winner_offer is None
            or decision.reward_amount > winner.reward_amount
            or (
                decision.reward_amount == winner.reward_amount
                and (offer.created_at, offer.offer_id)
                > (winner_offer.created_at, winner_offer.offer_id)
            )
        ):
            winner, winner_offer = decision, offer
    if qualified > 1:
        decisions = [
            Decision(d.offer_id, Reason.OUTBID) if d.reason is Reason.QUALIFIED and d is not winner
            else d
            for d in decisions
        ]  # fmt: skip
    return MatchResult(tuple(decisions), winner)
