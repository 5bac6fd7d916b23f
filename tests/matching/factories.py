"""Keyword-only factories with defaults for matching tests.

The defaults describe one plain offer: brand 10's 5% cashback in USD, brand-wide, live since
2024-01-01, no day parts, no caps. Event default: $40.00 at MID-A on Monday 2024-06-03,
12:00 in New York (16:00 UTC).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from matching.events import CardEvent, Channel, EventKind, Source
from matching.match import MatchContext
from matching.offers import Audience, CommissionBase, OfferKind, OfferRules, RewardType

JAN_1 = datetime(2024, 1, 1, tzinfo=UTC)
MONDAY_NOON_NY = datetime(2024, 6, 3, 16, 0, tzinfo=UTC)
BRAND = 10
MID_TO_BRAND = {"MID-A": BRAND, "MID-B": BRAND, "MID-Z": 20}

_BASE_OFFER = OfferRules(
    offer_id=1,
    merchant_id=BRAND,
    brand_id=BRAND,
    currency="USD",
    kind=OfferKind.CASHBACK,
    reward_type=RewardType.PERCENT,
    rate_bps=500,
    reward_amount=0,
    max_reward_amount=None,
    min_spend_amount=0,
    location_mids=None,
    starts_at=JAN_1,
    ends_at=None,
    timezone="America/New_York",
    dayparts=(),
    bonus_windows=(),
    audience=Audience.EVERYONE,
    lookback_days=0,
    activation_required=False,
    member_max_rewards=None,
    member_max_reward_amount=None,
    budget_amount=None,
    max_redemptions=None,
    stamp_every_n=None,
    threshold_amount=None,
    hold_days=30,
    commission_bps=2_000,
    commission_base=CommissionBase.REWARD,
    holdout_bps=0,
    created_at=JAN_1,
)


def make_offer(**overrides: Any) -> OfferRules:
    """The base offer with the given fields replaced (validation runs again)."""
    return replace(_BASE_OFFER, **overrides)


def make_event(
    *,
    external_id: str = "evt-1",
    kind: EventKind = EventKind.AUTH,
    card_id: int = 1,
    amount: int = 4_000,
    currency: str = "USD",
    occurred_at: datetime = MONDAY_NOON_NY,
    mid: str | None = "MID-A",
    brand_hint: str | None = None,
    merchant_name: str | None = None,
    channel: Channel = Channel.IN_STORE,
    original_external_id: str | None = None,
    source: Source = Source.NETWORK,
) -> CardEvent:
    return CardEvent(
        source=source,
        external_id=external_id,
        kind=kind,
        card_id=card_id,
        amount=amount,
        currency=currency,
        occurred_at=occurred_at,
        mid=mid,
        acquirer_id=None,
        descriptor=None,
        merchant_name=merchant_name,
        mcc=None,
        country=None,
        postal_code=None,
        brand_hint=brand_hint,
        channel=channel,
        original_external_id=original_external_id,
    )


def make_ctx(*, member_id: int = 1, **overrides: Any) -> MatchContext:
    return MatchContext(member_id=member_id, **overrides)
