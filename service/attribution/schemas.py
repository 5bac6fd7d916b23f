"""Response models of the attribution report.

Money is int minor units (`*_amount`), rates are basis points (`*_bps`). Lift figures are
statistics: each comes as a rounded int for display and as the float it was computed as.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from service.merchants.common import UtcDatetime


class LiftOut(BaseModel):
    method: str
    confidence_level: float
    treatment_n: int
    control_n: int
    # treatment mean - control mean per member (CUPED-adjusted), minor units, and its interval
    lift_per_member_amount: int
    ci_low_amount: int
    ci_high_amount: int
    # treatment mean / control mean - 1; null when the control mean is not positive
    relative_lift_bps: int | None
    relative_ci_low_bps: int | None
    relative_ci_high_bps: int | None
    lift_per_member: float
    ci_low: float
    ci_high: float
    relative_lift: float | None
    relative_ci_low: float | None
    relative_ci_high: float | None
    standard_error: float
    degrees_of_freedom: float
    cuped_theta: float | None


class GroupSpendOut(BaseModel):
    members: int
    spend_amount: int
    spend_per_member_amount: int


class HoldoutOut(BaseModel):
    holdout_bps: int
    treatment: GroupSpendOut
    control: GroupSpendOut
    pre_period_start: UtcDatetime
    pre_period_end: UtcDatetime
    lift: LiftOut | None
    lift_note: str | None


class OfferAttributionOut(BaseModel):
    offer_id: int
    merchant_id: int
    title: str
    currency: str
    period_start: UtcDatetime
    period_end: UtcDatetime
    activations: int
    qualified_events: int
    spend_amount: int
    refunded_spend_amount: int
    net_spend_amount: int
    cashback_amount: int
    commission_amount: int
    unique_members: int
    new_members: int
    returning_members: int
    converted_members: int
    conversion_bps: int | None
    return_on_spend_bps: int | None
    refund_count: int
    refund_amount: int
    # Of the qualified events, those booked by accepted missing-cashback claims.
    manual_events: int = 0
    holdout: HoldoutOut | None


class AttributionReportOut(BaseModel):
    period_start: UtcDatetime
    period_end: UtcDatetime
    counted_by: Literal["booking_time"] = Field(
        description=(
            "A purchase counts in the period in which its cashback was first booked as posted "
            "in the ledger (its clearing, for an auth), as on the settlement statements; not "
            "the time of the purchase."
        )
    )
    offers: list[OfferAttributionOut]
