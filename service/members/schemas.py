"""Request and response models for members, activations, balances and activity."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, Field, StringConstraints

from service.merchants.common import MAX_ID, RequestModel, UtcDatetime

EMAIL_PATTERN = r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]+$"


class MemberCreate(RequestModel):
    external_ref: Annotated[str, StringConstraints(min_length=1, max_length=128)] | None = None
    display_name: Annotated[str, StringConstraints(max_length=200)] = ""
    email: Annotated[str, StringConstraints(max_length=254, pattern=EMAIL_PATTERN)] | None = None
    tier: Annotated[int, Field(ge=0, le=100)] = 0
    birth_month: Annotated[int, Field(ge=1, le=12)] | None = None


class MemberOut(BaseModel):
    id: int
    external_ref: str | None
    display_name: str
    email: str | None
    tier: int
    birth_month: int | None
    created_at: UtcDatetime


class MemberCreated(BaseModel):
    """The member and its token: shown once, only its hash is stored."""

    member: MemberOut
    token: str


class ActivationCreate(RequestModel):
    offer_id: Annotated[int, Field(ge=1, le=MAX_ID)]


class ActivationOut(BaseModel):
    member_id: int
    offer_id: int
    activated_at: UtcDatetime


class BalanceOut(BaseModel):
    currency: str
    pending_amount: int
    available_amount: int
    recovery_amount: int
    lifetime_amount: int


class BalancesOut(BaseModel):
    """One row per currency the member has ever earned in; a new member has none."""

    member_id: int
    balances: list[BalanceOut]


class RewardSummary(BaseModel):
    reward_id: int
    state: str
    reward_amount: int
    clawed_reward_amount: int
    hold_until: UtcDatetime | None


class ActivityItem(BaseModel):
    event_id: int
    kind: str
    occurred_at: UtcDatetime
    amount: int
    currency: str
    merchant: str | None
    outcome: str
    reason: str | None
    reward: RewardSummary | None
