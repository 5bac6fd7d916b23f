"""Request and response models of the settlements API."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, Field

from service.merchants.common import MAX_AMOUNT, RequestModel, UtcDatetime, WholeNumber


class StepOut(BaseModel):
    step: str
    completed_at: UtcDatetime
    detail: str


class DecisionOut(BaseModel):
    decision: str
    actor: str
    reason: str
    decided_at: UtcDatetime


class RunOut(BaseModel):
    id: int
    kind: str
    period: str
    attempt: int  # 1, then one more for each re-opening of a rejected attempt
    previous_run_id: int | None = None
    period_start: UtcDatetime
    period_end: UtcDatetime
    status: str
    total_amount: int
    created_at: UtcDatetime
    updated_at: UtcDatetime
    closed_at: UtcDatetime | None = None


class RunDetail(RunOut):
    steps: list[StepOut]
    decisions: list[DecisionOut]
    invoices: int
    payouts: int


class Figures(BaseModel):
    qualified_count: int
    spend_amount: int
    cashback_amount: int
    commission_amount: int
    clawback_count: int
    clawback_cashback_amount: int
    clawback_commission_amount: int
    net_amount: int


class StatementLineOut(Figures):
    offer_id: int
    # Of the figures, the manual adjustments of accepted missing-cashback claims.
    manual_count: int = 0
    manual_spend_amount: int = 0
    manual_cashback_amount: int = 0
    manual_commission_amount: int = 0


class StatementOut(Figures):
    merchant_id: int
    currency: str
    payments_amount: int
    receivable_movement_amount: int
    credit_amount: int  # a negative net: credited to the merchant, off its next invoice
    lines: list[StatementLineOut]


class DecisionIn(RequestModel):
    reason: Annotated[str, Field(max_length=500)] = ""


class RejectIn(RequestModel):
    reason: Annotated[str, Field(min_length=1, max_length=500)]


class PayoutAccountIn(RequestModel):
    stripe_account_id: Annotated[str, Field(pattern=r"^acct_[A-Za-z0-9]{1,60}$")]


class PayoutAccountOut(BaseModel):
    member_id: int
    stripe_account_id: str


class CharityIn(RequestModel):
    name: Annotated[str, Field(min_length=1, max_length=200)]
    # where settlement pays what members donated (a Stripe Connect account)
    stripe_account_id: Annotated[str, Field(pattern=r"^acct_[A-Za-z0-9]{1,59}$")] | None = None


class CharityOut(BaseModel):
    id: int
    name: str
    stripe_account_id: str | None = None


class DonationIn(RequestModel):
    charity_id: Annotated[int, Field(ge=1, le=2**31 - 1)]
    amount: Annotated[WholeNumber, Field(ge=1, le=MAX_AMOUNT)]
    currency: Annotated[str, Field(pattern=r"^[A-Z]{3}$")]


class DonationOut(BaseModel):
    id: int
    member_id: int
    charity_id: int
    amount: int
    currency: str
    available_amount: int  # after the donation
    created_at: UtcDatetime


class WebhookResult(BaseModel):
    received: bool
    result: str
