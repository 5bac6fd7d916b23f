"""Every eligibility rule of `match`, each with a passing and a failing example.

Default purchase: $40.00 (4,000 cents) on a 5% offer = 200 cents reward; 20% commission on
the reward = 50 cents (the platform keeps 20% of the 250 the merchant pays).
"""

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from freezegun import freeze_time

from matching.events import CardEvent, Channel
from matching.match import Decision, MemberOfferState, Reason, match
from matching.offers import Audience, DayPart, OfferRules
from tests.matching.factories import MONDAY_NOON_NY, make_ctx, make_event, make_offer

DAY = timedelta(days=1)


def decide(offer: OfferRules | None = None, event: CardEvent | None = None, **ctx: Any) -> Decision:
    result = match(event or make_event(), [offer or make_offer()], make_ctx(**ctx))
    (decision,) = result.decisions
    assert result.winner == (decision if decision.qualified else None)
    return decision


def test_plain_qualifying_purchase_40_dollars_at_5_percent() -> None:
    decision = decide()
    assert decision.qualified
    assert decision.reason is Reason.QUALIFIED
    assert decision.reward_amount == 200  # 4,000 x 5%
    assert decision.commission_amount == 50  # 200 x 2,000 / 8,000; merchant pays 250
    assert (decision.stamp_counted, decision.threshold_spend_counted) == (False, 0)


def test_no_candidates() -> None:
    result = match(make_event(), [], make_ctx())
    assert result.decisions == () and result.winner is None


def test_currency_mismatch() -> None:
    assert decide(make_offer(currency="EUR")).reason is Reason.CURRENCY_MISMATCH


@pytest.mark.parametrize(
    ("starts_at", "ends_at", "reason"),
    [
        (MONDAY_NOON_NY + timedelta(seconds=1), None, Reason.OUTSIDE_WINDOW),  # not started
        (MONDAY_NOON_NY, None, Reason.QUALIFIED),  # starts exactly at the purchase
        (MONDAY_NOON_NY - DAY, MONDAY_NOON_NY, Reason.OUTSIDE_WINDOW),  # end is exclusive
        (MONDAY_NOON_NY - DAY, MONDAY_NOON_NY + timedelta(seconds=1), Reason.QUALIFIED),
    ],
)
def test_window(starts_at: datetime, ends_at: datetime | None, reason: Reason) -> None:
    assert decide(make_offer(starts_at=starts_at, ends_at=ends_at)).reason is reason


@pytest.mark.parametrize(
    ("offer_channel", "event_channel", "reason"),
    [
        (Channel.ONLINE, Channel.IN_STORE, Reason.WRONG_CHANNEL),
        (Channel.ONLINE, Channel.ONLINE, Reason.QUALIFIED),
        (Channel.IN_STORE, Channel.ONLINE, Reason.WRONG_CHANNEL),
        (None, Channel.ONLINE, Reason.QUALIFIED),
        (None, Channel.IN_STORE, Reason.QUALIFIED),
    ],
)
def test_channel(offer_channel: Channel | None, event_channel: Channel, reason: Reason) -> None:
    offer = make_offer(channel=offer_channel)
    assert decide(offer, make_event(channel=event_channel)).reason is reason


def test_daypart_weekday_lunch() -> None:
    lunch = make_offer(dayparts=(DayPart(frozenset(range(5)), 11 * 60 + 30, 14 * 60),))
    assert decide(lunch).reason is Reason.QUALIFIED  # Monday 12:00 New York
    saturday_noon = MONDAY_NOON_NY + 5 * DAY
    assert decide(lunch, make_event(occurred_at=saturday_noon)).reason is Reason.DAYPART
    monday_11_am = MONDAY_NOON_NY - timedelta(hours=1)
    assert decide(lunch, make_event(occurred_at=monday_11_am)).reason is Reason.DAYPART


def test_holdout_member_is_observed_not_rewarded_even_without_activation() -> None:
    everyone_held_out = make_offer(holdout_bps=10_000, activation_required=True)
    assert decide(everyone_held_out).reason is Reason.HOLDOUT
    assert decide(everyone_held_out).reward_amount == 0


def test_no_holdout_goes_on_to_the_activation_check() -> None:
    offer = make_offer(holdout_bps=0, activation_required=True)
    assert decide(offer).reason is Reason.NOT_ACTIVATED


def test_holdout_follows_the_member() -> None:
    # sha256("1:1") -> 283 of 10,000: member 1 is held out at 284 bps, not at 283
    assert decide(make_offer(holdout_bps=284), member_id=1).reason is Reason.HOLDOUT
    assert decide(make_offer(holdout_bps=283), member_id=1).reason is Reason.QUALIFIED


def test_member_tier() -> None:
    gold_only = make_offer(min_member_tier=2)
    assert decide(gold_only, member_tier=1).reason is Reason.TIER_TOO_LOW
    assert decide(gold_only, member_tier=2).reason is Reason.QUALIFIED
    assert decide(gold_only, member_tier=3).reason is Reason.QUALIFIED


@pytest.mark.parametrize(
    ("activations", "reason"),
    [
        ({}, Reason.NOT_ACTIVATED),
        ({2: MONDAY_NOON_NY - DAY}, Reason.NOT_ACTIVATED),  # another offer's activation
        ({1: MONDAY_NOON_NY + timedelta(seconds=1)}, Reason.ACTIVATED_AFTER_PURCHASE),
        ({1: MONDAY_NOON_NY}, Reason.QUALIFIED),  # at the same instant counts as before
        ({1: MONDAY_NOON_NY - DAY}, Reason.QUALIFIED),
    ],
)
def test_activation_required(activations: dict[int, datetime], reason: Reason) -> None:
    assert decide(make_offer(activation_required=True), activations=activations).reason is reason


def test_automatic_offer_needs_no_activation() -> None:
    assert decide(make_offer(activation_required=False), activations={}).reason is Reason.QUALIFIED


NEVER = None
TEN_DAYS_AGO = MONDAY_NOON_NY - 10 * DAY
THIRTY_DAYS_AGO = MONDAY_NOON_NY - 30 * DAY  # exactly the lookback: still "within"
FORTY_DAYS_AGO = MONDAY_NOON_NY - 40 * DAY


@pytest.mark.parametrize(
    ("audience", "last_purchase", "reason"),
    [
        (Audience.NEW, NEVER, Reason.QUALIFIED),
        (Audience.NEW, FORTY_DAYS_AGO, Reason.QUALIFIED),
        (Audience.NEW, THIRTY_DAYS_AGO, Reason.NOT_NEW_CUSTOMER),
        (Audience.NEW, TEN_DAYS_AGO, Reason.NOT_NEW_CUSTOMER),
        (Audience.LAPSED, NEVER, Reason.NOT_LAPSED_CUSTOMER),
        (Audience.LAPSED, TEN_DAYS_AGO, Reason.NOT_LAPSED_CUSTOMER),
        (Audience.LAPSED, THIRTY_DAYS_AGO, Reason.NOT_LAPSED_CUSTOMER),
        (Audience.LAPSED, FORTY_DAYS_AGO, Reason.QUALIFIED),
        (Audience.EXISTING, NEVER, Reason.NOT_EXISTING_CUSTOMER),
        (Audience.EXISTING, FORTY_DAYS_AGO, Reason.NOT_EXISTING_CUSTOMER),
        (Audience.EXISTING, THIRTY_DAYS_AGO, Reason.QUALIFIED),
        (Audience.EXISTING, TEN_DAYS_AGO, Reason.QUALIFIED),
        (Audience.EVERYONE, NEVER, Reason.QUALIFIED),
        (Audience.EVERYONE, TEN_DAYS_AGO, Reason.QUALIFIED),
    ],
)
def test_audience_with_30_day_lookback(
    audience: Audience, last_purchase: datetime | None, reason: Reason
) -> None:
    offer = make_offer(audience=audience, lookback_days=30)
    assert decide(offer, last_brand_purchase_at=last_purchase).reason is reason


def test_min_spend_20_dollars() -> None:
    offer = make_offer(min_spend_amount=2_000)
    assert decide(offer, make_event(amount=1_999)).reason is Reason.BELOW_MIN_SPEND
    assert decide(offer, make_event(amount=2_000)).reward_amount == 100  # 2,000 x 5%


def test_member_reward_count_cap_of_3() -> None:
    offer = make_offer(member_max_rewards=3)
    used_3 = {1: MemberOfferState(reward_count=3)}
    used_2 = {1: MemberOfferState(reward_count=2)}
    assert decide(offer, offer_states=used_3).reason is Reason.MEMBER_CAP_REACHED
    assert decide(offer, offer_states=used_2).reason is Reason.QUALIFIED


def test_member_amount_cap_of_5_dollars_truncates_then_stops() -> None:
    offer = make_offer(member_max_reward_amount=500)
    # earned 4.50 already: the 2.00 reward is cut to the 0.50 left
    earned_450 = {1: MemberOfferState(reward_count=5, reward_amount=450)}
    cut = decide(offer, offer_states=earned_450)
    assert (cut.reason, cut.reward_amount, cut.commission_amount) == (
        Reason.QUALIFIED,
        50,
        12,
    )  # 12.5 -> 12
    earned_500 = {1: MemberOfferState(reward_amount=500)}
    assert decide(offer, offer_states=earned_500).reason is Reason.MEMBER_AMOUNT_CAP_REACHED


def test_redemptions() -> None:
    offer = make_offer(max_redemptions=100)
    assert decide(offer, redemptions_remaining={1: 0}).reason is Reason.REDEMPTIONS_EXHAUSTED
    assert decide(offer, redemptions_remaining={1: 1}).reason is Reason.QUALIFIED
    assert decide(offer, redemptions_remaining={}).reason is Reason.QUALIFIED  # unlimited


def test_budget_truncates_200_cent_reward_to_the_150_left() -> None:
    decision = decide(make_offer(budget_amount=10_000), budget_remaining={1: 150})
    assert (decision.reason, decision.reward_amount) == (Reason.QUALIFIED, 150)
    # on what is actually paid: 150 x 2,000 / 8,000 = 37.5 -> 38 (half-even)
    assert decision.commission_amount == 38


def test_budget_exhausted() -> None:
    offer = make_offer(budget_amount=10_000)
    assert decide(offer, budget_remaining={1: 0}).reason is Reason.BUDGET_EXHAUSTED
    assert decide(offer, budget_remaining={1: -5}).reason is Reason.BUDGET_EXHAUSTED
    assert decide(offer, budget_remaining={2: 0}).reward_amount == 200  # other offer's budget


def test_zero_reward() -> None:
    # 9 cents at 5% = 0.45 -> 0
    assert decide(make_offer(), make_event(amount=9)).reason is Reason.ZERO_REWARD
    # 10 cents at 5% = 0.5 -> 0 (half to even); 30 cents -> 1.5 -> 2
    assert decide(make_offer(), make_event(amount=10)).reason is Reason.ZERO_REWARD
    assert decide(make_offer(), make_event(amount=30)).reward_amount == 2


def test_max_reward_cap() -> None:
    # $100 at 10% = 10.00, capped at 7.50
    offer = make_offer(rate_bps=1_000, max_reward_amount=750)
    assert decide(offer, make_event(amount=10_000)).reward_amount == 750


def test_the_first_failing_check_is_the_reason() -> None:
    everything_wrong = make_offer(
        starts_at=MONDAY_NOON_NY + DAY,
        channel=Channel.ONLINE,
        activation_required=True,
        min_spend_amount=10**6,
        min_member_tier=5,
    )
    assert decide(everything_wrong).reason is Reason.OUTSIDE_WINDOW
    started = make_offer(
        channel=Channel.ONLINE, activation_required=True, min_spend_amount=10**6, min_member_tier=5
    )
    assert decide(started).reason is Reason.WRONG_CHANNEL
    assert decide(make_offer(activation_required=True, min_member_tier=5)).reason is (
        Reason.TIER_TOO_LOW
    )
    assert decide(make_offer(activation_required=True, min_spend_amount=10**6)).reason is (
        Reason.NOT_ACTIVATED
    )
    capped = make_offer(min_spend_amount=10**6, member_max_rewards=0)
    assert decide(capped).reason is Reason.BELOW_MIN_SPEND
    assert (
        decide(
            make_offer(member_max_rewards=0, max_redemptions=1), redemptions_remaining={1: 0}
        ).reason
        is Reason.MEMBER_CAP_REACHED
    )


def test_currency_is_checked_before_the_window() -> None:
    offer = make_offer(currency="EUR", starts_at=MONDAY_NOON_NY + DAY)
    assert decide(offer).reason is Reason.CURRENCY_MISMATCH


@freeze_time("2031-07-01T09:00:00Z")
def test_time_comes_only_from_the_event_never_from_the_clock() -> None:
    # With the clock frozen in 2031, an offer of January 2020 still matches a 2020 event:
    # replaying old feeds gives the answers they gave at the time.
    old_offer = make_offer(
        starts_at=datetime(2020, 1, 1, tzinfo=UTC), ends_at=datetime(2020, 2, 1, tzinfo=UTC)
    )
    in_2020 = make_event(occurred_at=datetime(2020, 1, 15, tzinfo=UTC))
    assert decide(old_offer, in_2020).reason is Reason.QUALIFIED
    assert decide(old_offer).reason is Reason.OUTSIDE_WINDOW
