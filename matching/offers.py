"""Offer rules as plain values, and the money rules that belong to a single offer."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from matching.events import Channel
from matching.money import CURRENCY_EXPONENTS, apply_bps, round_half_even

BPS_DENOMINATOR = 10_000
MINUTES_PER_DAY = 1440


class OfferKind(StrEnum):
    CASHBACK = "cashback"
    STAMP_CARD = "stamp_card"
    SPEND_THRESHOLD = "spend_threshold"


class RewardType(StrEnum):
    PERCENT = "percent"
    FIXED = "fixed"


class Audience(StrEnum):
    EVERYONE = "everyone"
    NEW = "new"
    LAPSED = "lapsed"
    EXISTING = "existing"


class CommissionBase(StrEnum):
    SPEND = "spend"
    REWARD = "reward"


_ZONES: dict[str, ZoneInfo] = {}


def zone(name: str) -> ZoneInfo:
    """The `ZoneInfo` for an IANA name, cached here because lookups happen per event."""
    found = _ZONES.get(name)
    if found is None:
        try:
            found = ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {name!r}") from None
        _ZONES[name] = found
    return found


def local_time(offer: OfferRules, occurred_at: datetime) -> datetime:
    """`occurred_at` on the merchant's wall clock (zoneinfo applies the DST rules)."""
    return occurred_at.astimezone(zone(offer.timezone))


@dataclass(frozen=True, slots=True)
class DayPart:
    """Weekdays (0 = Monday) and a local time span [start_minute, end_minute).

    A span across midnight is written as two day parts.
    """

    weekdays: frozenset[int]
    start_minute: int
    end_minute: int
    multiplier_bps: int = BPS_DENOMINATOR

    def __post_init__(self) -> None:
        if not self.weekdays or not self.weekdays <= frozenset(range(7)):
            raise ValueError(f"weekdays must be a non-empty subset of 0..6: {self.weekdays}")
        if not 0 <= self.start_minute < self.end_minute <= MINUTES_PER_DAY:
            raise ValueError(
                f"need 0 <= start_minute < end_minute <= {MINUTES_PER_DAY}: "
                f"{self.start_minute}..{self.end_minute}"
            )
        if self.multiplier_bps < 0:
            raise ValueError("multiplier_bps must not be negative")

    def contains(self, local: datetime) -> bool:
        """Whether a local (merchant wall clock) time falls in this day part."""
        return (
            local.weekday() in self.weekdays
            and self.start_minute <= local.hour * 60 + local.minute < self.end_minute
        )


@dataclass(frozen=True, slots=True)
class OfferRules:
    """Everything matching needs to know about one offer; amounts in `currency` minor units."""

    offer_id: int
    merchant_id: int
    brand_id: int
    currency: str
    kind: OfferKind
    reward_type: RewardType
    rate_bps: int
    reward_amount: int
    max_reward_amount: int | None
    min_spend_amount: int
    location_mids: frozenset[str] | None
    starts_at: datetime
    ends_at: datetime | None
    timezone: str
    dayparts: tuple[DayPart, ...]
    bonus_windows: tuple[DayPart, ...]
    audience: Audience
    lookback_days: int
    activation_required: bool
    member_max_rewards: int | None
    member_max_reward_amount: int | None
    budget_amount: int | None
    max_redemptions: int | None
    stamp_every_n: int | None
    threshold_amount: int | None
    hold_days: int
    commission_bps: int
    commission_base: CommissionBase
    holdout_bps: int
    created_at: datetime
    channel: Channel | None = None
    min_member_tier: int = 0
    birthday_bonus_bps: int = 0

    def __post_init__(self) -> None:
        # Offers are built once per index load, so checking here costs nothing per event and
        # turns a bad row into an error at load time instead of a wrong reward later.
        if self.currency not in CURRENCY_EXPONENTS:
            raise ValueError(f"offer {self.offer_id}: unknown currency {self.currency!r}")
        for name in ("starts_at", "ends_at", "created_at"):
            moment = getattr(self, name)
            if moment is not None and moment.utcoffset() is None:
                raise ValueError(f"offer {self.offer_id}: {name} must be timezone-aware")
        if self.ends_at is not None and self.ends_at <= self.starts_at:
            raise ValueError(f"offer {self.offer_id}: ends_at must be after starts_at")
        for name in (
            "rate_bps", "reward_amount", "max_reward_amount", "min_spend_amount",
            "lookback_days", "member_max_rewards", "member_max_reward_amount", "budget_amount",
            "max_redemptions", "hold_days", "commission_bps", "min_member_tier",
            "birthday_bonus_bps",
        ):  # fmt: skip
            value = getattr(self, name)
            if value is not None and value < 0:
                raise ValueError(f"offer {self.offer_id}: {name} must not be negative")
        if self.commission_base is CommissionBase.REWARD and self.commission_bps >= BPS_DENOMINATOR:
            raise ValueError(f"offer {self.offer_id}: commission on the reward must be below 100%")
        if not 0 <= self.holdout_bps <= BPS_DENOMINATOR:
            raise ValueError(f"offer {self.offer_id}: holdout_bps must be within 0..10000")
        if self.kind is OfferKind.STAMP_CARD and (self.stamp_every_n or 0) < 1:
            raise ValueError(f"offer {self.offer_id}: a stamp card needs stamp_every_n >= 1")
        if self.kind is OfferKind.SPEND_THRESHOLD and (self.threshold_amount or 0) < 1:
            raise ValueError(f"offer {self.offer_id}: a spend threshold needs threshold_amount")
        zone(self.timezone)

    @property
    def keeps_counters(self) -> bool:
        """Whether matching reads the member's counters on this offer (caps, stamps, spend
        towards a threshold). None of these fields can change once an offer is published, so
        an offer that keeps no counters never needs the ones it did not write."""
        return (
            self.member_max_rewards is not None
            or self.member_max_reward_amount is not None
            or self.kind is not OfferKind.CASHBACK
        )

    @property
    def reads_brand_history(self) -> bool:
        """Whether matching asks when the member last bought at the brand (an audience)."""
        return self.audience is not Audience.EVERYONE


def reward_for_local(
    offer: OfferRules, amount: int, local: datetime | None, birth_month: int | None
) -> int:
    """`reward_for_amount` with the local time already worked out (None if not needed).

    Multipliers are carried as one exact fraction so the reward is rounded once.
    """
    if offer.reward_type is RewardType.PERCENT:
        numerator = amount * offer.rate_bps
        denominator = BPS_DENOMINATOR
    else:
        numerator = offer.reward_amount
        denominator = 1
    if local is not None:
        for window in offer.bonus_windows:
            if window.contains(local):
                numerator *= window.multiplier_bps
                denominator *= BPS_DENOMINATOR
                break
        if offer.birthday_bonus_bps and birth_month == local.month:
            numerator *= BPS_DENOMINATOR + offer.birthday_bonus_bps
            denominator *= BPS_DENOMINATOR
    reward = numerator if denominator == 1 else round_half_even(numerator, denominator)
    if offer.max_reward_amount is not None and reward > offer.max_reward_amount:
        return offer.max_reward_amount
    return reward


def reward_for_amount(
    offer: OfferRules, amount: int, occurred_at: datetime, birth_month: int | None = None
) -> int:
    """The reward for a purchase of `amount` at `occurred_at`, before member caps and budget.

    Percent of the amount or the fixed amount, times the first matching off-peak bonus
    window, plus the birthday bonus in the member's birth month (by the merchant's calendar),
    capped at `max_reward_amount`. Used for an auth and again for the clearing's amount.
    """
    local = None
    if offer.bonus_windows or (offer.birthday_bonus_bps and birth_month is not None):
        local = local_time(offer, occurred_at)
    return reward_for_local(offer, amount, local, birth_month)


def commission_for(offer: OfferRules, spend_amount: int, reward_amount: int) -> int:
    """Platform commission: `commission_bps` of the spend, or of what the merchant pays.

    "20% commission on the reward" means the platform keeps 20% of what the merchant pays
    for the reward: a 200 reward bills 250 and the platform keeps 50 (DESIGN, Ledger). So
    on the reward base the commission is `reward x bps / (10,000 - bps)`, rounded once.
    """
    if offer.commission_base is CommissionBase.SPEND:
        return apply_bps(spend_amount, offer.commission_bps)
    return round_half_even(
        reward_amount * offer.commission_bps, BPS_DENOMINATOR - offer.commission_bps
    )


def holdout_bucket(offer_id: int, member_id: int) -> int:
    """The member's bucket for the offer, 0 to 9,999: the first 8 bytes of
    sha256("{offer_id}:{member_id}") as an unsigned big-endian integer, modulo 10,000.
    Databases compute the same (`service.attribution.holdout_sql`)."""
    digest = hashlib.sha256(f"{offer_id}:{member_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % BPS_DENOMINATOR


def in_holdout(offer_id: int, member_id: int, holdout_bps: int) -> bool:
    """Whether the member is in the offer's control group: a bucket below `holdout_bps`.

    A hash of offer and member rather than a random draw: the same member is always in the
    same group, in every process and every Python version, so the split is auditable.
    """
    if holdout_bps <= 0:
        return False
    return holdout_bucket(offer_id, member_id) < holdout_bps
