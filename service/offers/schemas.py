"""Request and response models for offers.

Field by field limits live here; rules that tie fields together (a percent offer needs a
rate, a stamp card needs `stamp_every_n`, ...) are checked on the merged offer in the service,
so a PATCH of one field is judged against the rest of the offer.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    Field,
    StringConstraints,
    ValidationInfo,
    field_validator,
)

from service.merchants.common import MAX_AMOUNT, MAX_ID, RequestModel, UtcDatetime, WholeNumber

OfferStatus = Literal["draft", "scheduled", "live", "paused", "ended"]
OfferKind = Literal["cashback", "stamp_card", "spend_threshold"]
RewardType = Literal["percent", "fixed"]
Channel = Literal["in_store", "online"]
Audience = Literal["everyone", "new", "lapsed", "existing"]
CommissionBase = Literal["spend", "reward"]

Bps = Annotated[WholeNumber, Field(ge=0, le=10_000)]
Amount = Annotated[WholeNumber, Field(ge=0, le=MAX_AMOUNT)]
PositiveAmount = Annotated[WholeNumber, Field(ge=1, le=MAX_AMOUNT)]
Count = Annotated[int, Field(ge=1, le=1_000_000_000)]
Title = Annotated[str, StringConstraints(min_length=1, max_length=200)]
LocationId = Annotated[int, Field(ge=1, le=MAX_ID)]
MAX_WINDOWS = 28
MAX_LOCATIONS = 1_000
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
LATEST = datetime(2100, 1, 1, tzinfo=UTC)


def check_moment(value: datetime) -> datetime:
    """Offer windows fall within this century; far dates overflow on the way to UTC."""
    if not EARLIEST <= value < LATEST:
        raise ValueError("must be between 2000-01-01 and 2100-01-01 (UTC)")
    return value


Moment = Annotated[AwareDatetime, AfterValidator(check_moment)]


class DayPartIn(RequestModel):
    """Weekdays (0 = Monday) and local minutes [start_minute, end_minute) in the merchant's zone."""

    weekdays: Annotated[list[Annotated[int, Field(ge=0, le=6)]], Field(min_length=1, max_length=7)]
    start_minute: Annotated[int, Field(ge=0, le=1439)]
    end_minute: Annotated[int, Field(ge=1, le=1440)]

    @field_validator("weekdays")
    @classmethod
    def _distinct_days(cls, value: list[int]) -> list[int]:
        if len(set(value)) != len(value):
            raise ValueError("weekdays must not repeat")
        return sorted(value)

    @field_validator("end_minute")
    @classmethod
    def _after_start(cls, value: int, info: ValidationInfo) -> int:
        start = info.data.get("start_minute")
        if start is not None and value <= start:
            raise ValueError("end_minute must be after start_minute (split spans over midnight)")
        return value


class BonusWindowIn(DayPartIn):
    """An off-peak bonus: rewards in this window are multiplied (20000 = double)."""

    multiplier_bps: Annotated[WholeNumber, Field(ge=10_000, le=100_000)]


class OfferFields(RequestModel):
    """Fields shared by create and update; all optional here, required ones in `OfferCreate`."""

    title: Title | None = None
    kind: OfferKind | None = None
    reward_type: RewardType | None = None
    rate_bps: Bps | None = None
    reward_amount: Amount | None = None
    max_reward_amount: PositiveAmount | None = None
    min_spend_amount: Amount | None = None
    location_ids: Annotated[list[LocationId], Field(max_length=MAX_LOCATIONS)] | None = None
    starts_at: Moment | None = None
    ends_at: Moment | None = None
    dayparts: Annotated[list[DayPartIn], Field(max_length=MAX_WINDOWS)] | None = None
    bonus_windows: Annotated[list[BonusWindowIn], Field(max_length=MAX_WINDOWS)] | None = None
    channel: Channel | None = None
    audience: Audience | None = None
    lookback_days: Annotated[int, Field(ge=0, le=3650)] | None = None
    min_member_tier: Annotated[int, Field(ge=0, le=100)] | None = None
    birthday_bonus_bps: Bps | None = None
    activation_required: bool | None = None
    member_max_rewards: Count | None = None
    member_max_reward_amount: PositiveAmount | None = None
    budget_amount: PositiveAmount | None = None
    max_redemptions: Count | None = None
    stamp_every_n: Annotated[int, Field(ge=2, le=1000)] | None = None
    threshold_amount: PositiveAmount | None = None
    hold_days: Annotated[int, Field(ge=0, le=365)] | None = None
    commission_bps: Bps | None = None
    commission_base: CommissionBase | None = None
    holdout_bps: Annotated[WholeNumber, Field(ge=0, le=5000)] | None = None


class OfferCreate(OfferFields):
    """A new draft. Absent limits mean "no limit"; the currency is the merchant's."""

    title: Title
    kind: OfferKind = "cashback"
    reward_type: RewardType
    starts_at: Moment


class OfferUpdate(OfferFields):
    """Only the fields sent are changed; `null` clears an optional limit."""


class DayPartOut(BaseModel):
    weekdays: list[int]
    start_minute: int
    end_minute: int
    multiplier_bps: int | None = None


class OfferOut(BaseModel):
    id: int
    merchant_id: int
    title: str
    status: OfferStatus
    kind: str
    reward_type: str
    currency: str
    rate_bps: int
    reward_amount: int
    max_reward_amount: int | None
    min_spend_amount: int
    location_ids: list[int]
    starts_at: UtcDatetime
    ends_at: UtcDatetime | None
    dayparts: list[DayPartOut]
    bonus_windows: list[DayPartOut]
    channel: str | None
    audience: str
    lookback_days: int
    min_member_tier: int
    birthday_bonus_bps: int
    activation_required: bool
    member_max_rewards: int | None
    member_max_reward_amount: int | None
    budget_amount: int | None
    max_redemptions: int | None
    reserved_amount: int
    redemption_count: int
    stamp_every_n: int | None
    threshold_amount: int | None
    hold_days: int
    commission_bps: int
    commission_base: str
    holdout_bps: int
    created_at: UtcDatetime
    updated_at: UtcDatetime


class MemberOfferOut(BaseModel):
    """What a member sees of an offer: the terms, not the merchant's budget or pricing."""

    id: int
    merchant_id: int
    merchant_name: str
    title: str
    status: OfferStatus
    kind: str
    reward_type: str
    currency: str
    rate_bps: int
    reward_amount: int
    max_reward_amount: int | None
    min_spend_amount: int
    starts_at: UtcDatetime
    ends_at: UtcDatetime | None
    dayparts: list[DayPartOut]
    bonus_windows: list[DayPartOut]
    channel: str | None
    activation_required: bool
    activated: bool
    stamp_every_n: int | None
    threshold_amount: int | None
    hold_days: int
