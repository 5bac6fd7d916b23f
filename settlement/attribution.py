"""Offer attribution per offer and period: the report model and its assembly.

Pure: the inputs are totals already aggregated in the database (by the service layer, which
owns the queries) and, for offers with a holdout, the moments of each group's spend per member
(or, from tests and tools, one spend figure per member of each group).
Nothing here reads a clock or a database, so settlement runs and the API build the same report.

Definitions, for an offer and a period [start, end):

- qualified events: the offer's rewards (rewarded purchases) whose money was first booked as
  posted in the ledger in the period (booking time, as the statements count them: an auth
  still pending at the period end counts in the period of its clearing), not voided; spend,
  cashback and commission are theirs, as known when the report is built (cashback and
  commission net of clawbacks; `net_spend_amount` is spend less refunded spend)
- unique members: members with a qualified event; `returning_members` had purchased at the
  brand before the period, `new_members` had not
- activations: activations of the offer in the period; conversion: those activated members who
  then purchased at the brand before the period ended, over the activated members
- return on spend: net spend / (net cashback + net commission), in basis points
- refunds: refund (and full-reversal) card events that clawed back a qualified event's reward
- holdout: every member with a card linked before the period end, split by the offer's hash;
  spend per member is cleared spend at the brand in the period less refunds, zero for none
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from sqlalchemy import Connection

from matching.money import round_half_even
from settlement.lift import GroupMoments, LiftEstimate, cuped_lift_of_moments, round_amount, to_bps

BPS = 10_000


@dataclass(frozen=True, slots=True)
class OfferFacts:
    offer_id: int
    merchant_id: int
    title: str
    currency: str
    holdout_bps: int
    starts_at: datetime


@dataclass(frozen=True, slots=True)
class RewardTotals:
    """Sums over the offer's non-voided rewards in the period."""

    qualified_events: int = 0
    spend_amount: int = 0
    refunded_spend_amount: int = 0
    reward_amount: int = 0
    clawed_reward_amount: int = 0
    commission_amount: int = 0
    clawed_commission_amount: int = 0
    unique_members: int = 0
    returning_members: int = 0
    manual_events: int = 0  # of the qualified events, those booked by accepted claims


@dataclass(frozen=True, slots=True)
class ActivationTotals:
    activations: int = 0
    converted_members: int = 0


@dataclass(frozen=True, slots=True)
class RefundTotals:
    refund_count: int = 0
    refund_amount: int = 0


@dataclass(frozen=True, slots=True)
class HoldoutMoments:
    """Per group, the moments of member spend in the period (y) and in the pre-period (x):
    all the comparison needs, summed by the database over the whole population."""

    treatment: GroupMoments
    control: GroupMoments
    pre_period_start: datetime
    pre_period_end: datetime


@dataclass(frozen=True, slots=True)
class HoldoutSample:
    """Per member spend in the period (y) and in the pre-period (x), by group."""

    treatment_spend: Sequence[int]
    control_spend: Sequence[int]
    treatment_pre_spend: Sequence[int]
    control_pre_spend: Sequence[int]
    pre_period_start: datetime
    pre_period_end: datetime

    def moments(self) -> HoldoutMoments:
        return HoldoutMoments(
            GroupMoments.of(self.treatment_spend, self.treatment_pre_spend),
            GroupMoments.of(self.control_spend, self.control_pre_spend),
            self.pre_period_start,
            self.pre_period_end,
        )


@dataclass(frozen=True, slots=True)
class GroupSpend:
    members: int
    spend_amount: int
    spend_per_member_amount: int  # rounded half-even


@dataclass(frozen=True, slots=True)
class HoldoutResult:
    holdout_bps: int
    treatment: GroupSpend
    control: GroupSpend
    pre_period_start: datetime
    pre_period_end: datetime
    lift: LiftEstimate | None
    lift_note: str | None = None  # why there is no lift, when there is none


@dataclass(frozen=True, slots=True)
class OfferAttribution:
    offer_id: int
    merchant_id: int
    title: str
    currency: str
    period_start: datetime
    period_end: datetime
    activations: int
    qualified_events: int
    spend_amount: int
    refunded_spend_amount: int
    net_spend_amount: int
    cashback_amount: int  # net of clawbacks
    commission_amount: int  # net of clawbacks
    unique_members: int
    new_members: int
    returning_members: int
    converted_members: int
    conversion_bps: int | None  # None without activations
    return_on_spend_bps: int | None  # None when nothing was paid
    refund_count: int
    refund_amount: int
    holdout: HoldoutResult | None
    # Of the qualified events, those booked by accepted missing-cashback claims (manual
    # adjustments: the feed never saw them; not evidence of the offer's reach).
    manual_events: int = 0


class AttributionSource(Protocol):
    """What a settlement run's attribution step calls (the service layer implements it)."""

    def __call__(
        self,
        conn: Connection,
        *,
        period_start: datetime,
        period_end: datetime,
        offer_ids: Sequence[int] | None = None,
    ) -> list[OfferAttribution]: ...


def ratio_bps(numerator: int, denominator: int) -> int | None:
    """numerator / denominator in basis points, half-even; None for a zero denominator."""
    return round_half_even(numerator * BPS, denominator) if denominator > 0 else None


def pre_period(
    offer_starts_at: datetime, start: datetime, end: datetime
) -> tuple[datetime, datetime]:
    """An equally long period just before the offer started."""
    return offer_starts_at - (end - start), offer_starts_at


def group_spend(group: GroupMoments | Sequence[int]) -> GroupSpend:
    """Members, their total spend and spend per member of a group (moments or a vector)."""
    if not isinstance(group, GroupMoments):
        group = GroupMoments.of(group)
    total = int(group.sum_y)  # spend amounts: an int sum
    per_member = round_half_even(total, group.n) if group.n else 0
    return GroupSpend(group.n, total, per_member)


def holdout_result(holdout_bps: int, sample: HoldoutMoments | HoldoutSample) -> HoldoutResult:
    if isinstance(sample, HoldoutSample):
        sample = sample.moments()
    lift, note = None, None
    if sample.treatment.n < 2 or sample.control.n < 2:
        note = "fewer than two members in a group"
    else:
        lift = cuped_lift_of_moments(sample.treatment, sample.control)
    return HoldoutResult(
        holdout_bps=holdout_bps,
        treatment=group_spend(sample.treatment),
        control=group_spend(sample.control),
        pre_period_start=sample.pre_period_start,
        pre_period_end=sample.pre_period_end,
        lift=lift,
        lift_note=note,
    )


def assemble(
    offer: OfferFacts,
    *,
    period_start: datetime,
    period_end: datetime,
    rewards: RewardTotals,
    activations: ActivationTotals,
    refunds: RefundTotals,
    holdout: HoldoutMoments | HoldoutSample | None,
) -> OfferAttribution:
    """One offer's attribution from its aggregated inputs."""
    net_spend = rewards.spend_amount - rewards.refunded_spend_amount
    cashback = rewards.reward_amount - rewards.clawed_reward_amount
    commission = rewards.commission_amount - rewards.clawed_commission_amount
    assert rewards.returning_members <= rewards.unique_members
    assert activations.converted_members <= activations.activations
    return OfferAttribution(
        offer_id=offer.offer_id,
        merchant_id=offer.merchant_id,
        title=offer.title,
        currency=offer.currency,
        period_start=period_start,
        period_end=period_end,
        activations=activations.activations,
        qualified_events=rewards.qualified_events,
        spend_amount=rewards.spend_amount,
        refunded_spend_amount=rewards.refunded_spend_amount,
        net_spend_amount=net_spend,
        cashback_amount=cashback,
        commission_amount=commission,
        unique_members=rewards.unique_members,
        new_members=rewards.unique_members - rewards.returning_members,
        returning_members=rewards.returning_members,
        converted_members=activations.converted_members,
        conversion_bps=ratio_bps(activations.converted_members, activations.activations),
        return_on_spend_bps=ratio_bps(net_spend, cashback + commission),
        refund_count=refunds.refund_count,
        refund_amount=refunds.refund_amount,
        holdout=holdout_result(offer.holdout_bps, holdout) if holdout is not None else None,
        manual_events=rewards.manual_events,
    )


# -- CSV -----------------------------------------------------------------------------------
BASE_COLUMNS = (
    "offer_id", "merchant_id", "title", "currency", "period_start", "period_end",
    "activations", "qualified_events", "spend_amount", "refunded_spend_amount",
    "net_spend_amount", "cashback_amount", "commission_amount", "unique_members",
    "new_members", "returning_members", "converted_members", "conversion_bps",
    "return_on_spend_bps", "refund_count", "refund_amount", "manual_events",
)  # fmt: skip
HOLDOUT_COLUMNS = (
    "holdout_bps", "treatment_members", "treatment_spend_amount",
    "treatment_spend_per_member_amount", "control_members", "control_spend_amount",
    "control_spend_per_member_amount", "lift_method", "lift_per_member_amount",
    "lift_ci_low_amount", "lift_ci_high_amount", "relative_lift_bps", "relative_lift_ci_low_bps",
    "relative_lift_ci_high_bps", "lift_degrees_of_freedom", "cuped_theta", "lift_note",
)  # fmt: skip
CSV_COLUMNS = BASE_COLUMNS + HOLDOUT_COLUMNS


def _opt_bps(value: float | None) -> int | None:
    return None if value is None else to_bps(value)


def csv_row(row: OfferAttribution) -> dict[str, object]:
    out: dict[str, object] = {name: getattr(row, name) for name in BASE_COLUMNS}
    out["period_start"] = row.period_start.isoformat()
    out["period_end"] = row.period_end.isoformat()
    h = row.holdout
    if h is not None:
        out.update(
            holdout_bps=h.holdout_bps,
            treatment_members=h.treatment.members,
            treatment_spend_amount=h.treatment.spend_amount,
            treatment_spend_per_member_amount=h.treatment.spend_per_member_amount,
            control_members=h.control.members,
            control_spend_amount=h.control.spend_amount,
            control_spend_per_member_amount=h.control.spend_per_member_amount,
            lift_note=h.lift_note,
        )
        if h.lift is not None:
            est = h.lift
            out.update(
                lift_method=est.method,
                lift_per_member_amount=round_amount(est.absolute_lift),
                lift_ci_low_amount=round_amount(est.absolute_ci_low),
                lift_ci_high_amount=round_amount(est.absolute_ci_high),
                relative_lift_bps=_opt_bps(est.relative_lift),
                relative_lift_ci_low_bps=_opt_bps(est.relative_ci_low),
                relative_lift_ci_high_bps=_opt_bps(est.relative_ci_high),
                lift_degrees_of_freedom=f"{est.degrees_of_freedom:.2f}",
                cuped_theta=f"{est.cuped_theta:.6f}" if est.cuped_theta is not None else None,
            )
    return out


def _safe_cell(value: object) -> object:
    """Titles are merchant-written: keep a spreadsheet from reading one as a formula."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


def report_to_csv(rows: Sequence[OfferAttribution]) -> str:
    """The report as CSV text, one line per offer, empty cells for what does not apply."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=CSV_COLUMNS, restval="", lineterminator="\r\n")
    writer.writeheader()
    for row in rows:
        cells = csv_row(row)
        cells["title"] = _safe_cell(cells["title"])
        writer.writerow({k: ("" if v is None else v) for k, v in cells.items()})
    return buffer.getvalue()
