"""The attribution report: offers in scope, aggregates from the database, lift from settlement.

`build_report` is what a settlement run's attribution step calls (it satisfies
`settlement.attribution.AttributionSource`); `report_for` adds what the API needs on top:
calendar dates, the caller's scope and 404s for offers outside it.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import Connection
from sqlmodel import Session

from service.attribution import repository as repo
from service.attribution.schemas import (
    AttributionReportOut,
    GroupSpendOut,
    HoldoutOut,
    LiftOut,
    OfferAttributionOut,
)
from service.auth import Principal, Role
from service.problems import InvalidInput, NotFound
from settlement.attribution import (
    ActivationTotals,
    HoldoutMoments,
    OfferAttribution,
    OfferFacts,
    RefundTotals,
    RewardTotals,
    assemble,
    pre_period,
    report_to_csv,
)
from settlement.lift import LiftEstimate, round_amount, to_bps

__all__ = ["build_report", "report_for", "report_to_csv", "report_to_dicts", "to_out"]

MAX_REPORT_OFFERS = 500  # one report; narrow with offer_id beyond this
MAX_PERIOD_DAYS = 400


class TooManyOffers(ValueError):
    pass


def build_report(
    conn: Connection,
    *,
    period_start: datetime,
    period_end: datetime,
    offer_ids: Sequence[int] | None = None,
    merchant_id: int | None = None,
    max_offers: int = MAX_REPORT_OFFERS,
) -> list[OfferAttribution]:
    """Attribution of each offer for [period_start, period_end), ascending by offer id.

    Without `offer_ids`: every non-draft offer whose window overlaps the period. Only reads;
    the caller owns the transaction. Raises ValueError for an empty or naive period and
    TooManyOffers beyond `max_offers`.
    """
    if period_start.tzinfo is None or period_end.tzinfo is None:
        raise ValueError("period bounds must be aware datetimes")
    if period_end <= period_start:
        raise ValueError("period_end must be after period_start")
    offers = repo.offers_for_period(
        conn,
        period_start=period_start,
        period_end=period_end,
        offer_ids=offer_ids,
        merchant_id=merchant_id,
        limit=max_offers,
    )
    if len(offers) > max_offers:
        raise TooManyOffers(f"more than {max_offers} offers in the period")
    ids = [o.offer_id for o in offers]
    rewards = repo.reward_totals(conn, ids, period_start, period_end)
    activations = repo.activation_totals(conn, ids, period_start, period_end)
    refunds = repo.refund_totals(conn, ids, period_start, period_end)
    return [
        assemble(
            offer,
            period_start=period_start,
            period_end=period_end,
            rewards=rewards.get(offer.offer_id, RewardTotals()),
            activations=activations.get(offer.offer_id, ActivationTotals()),
            refunds=refunds.get(offer.offer_id, RefundTotals()),
            holdout=(
                _holdout(conn, offer, period_start, period_end) if offer.holdout_bps > 0 else None
            ),
        )
        for offer in offers
    ]


def _holdout(conn: Connection, offer: OfferFacts, start: datetime, end: datetime) -> HoldoutMoments:
    """The offer's treatment and control groups, as moments the database summed."""
    pre_start, pre_end = pre_period(offer.starts_at, start, end)
    treatment, control = repo.holdout_moments(
        conn, offer, start=start, end=end, pre_start=pre_start, pre_end=pre_end
    )
    return HoldoutMoments(treatment, control, pre_start, pre_end)


# -- the API's view ----------------------------------------------------------------------------
def _midnight_utc(day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=UTC)


def report_for(
    session: Session,
    principal: Principal,
    *,
    period_start: date,
    period_end: date,
    offer_id: int | None = None,
) -> list[OfferAttribution]:
    """The report for calendar days [period_start, period_end) in UTC, in the caller's scope."""
    if period_end <= period_start:
        raise InvalidInput(
            "period_end must be after period_start (the end day is not included)",
            field="period_end",
            reason="empty_period",
        )
    if period_end - period_start > timedelta(days=MAX_PERIOD_DAYS):
        raise InvalidInput(
            f"period_end: a report covers at most {MAX_PERIOD_DAYS} days",
            field="period_end",
            reason="period_too_long",
        )
    merchant_id = principal.merchant_id if principal.role is Role.MERCHANT else None
    if principal.role is Role.MERCHANT and merchant_id is None:
        raise NotFound("no merchant for this key", field="Authorization")  # never all offers
    try:
        rows = build_report(
            session.connection(),
            period_start=_midnight_utc(period_start),
            period_end=_midnight_utc(period_end),
            offer_ids=None if offer_id is None else [offer_id],
            merchant_id=merchant_id,
        )
    except TooManyOffers as exc:
        raise InvalidInput(
            f"period_start: {exc}; ask for one offer with offer_id or a shorter period",
            field="period_start",
            reason="too_many_offers",
        ) from None
    if offer_id is not None and not rows:
        raise NotFound(f"offer {offer_id} not found", field="offer_id")
    return rows


def _lift_out(est: LiftEstimate) -> LiftOut:
    def bps(value: float | None) -> int | None:
        return None if value is None else to_bps(value)

    return LiftOut(
        method=est.method,
        confidence_level=est.confidence,
        treatment_n=est.treatment_n,
        control_n=est.control_n,
        lift_per_member_amount=round_amount(est.absolute_lift),
        ci_low_amount=round_amount(est.absolute_ci_low),
        ci_high_amount=round_amount(est.absolute_ci_high),
        relative_lift_bps=bps(est.relative_lift),
        relative_ci_low_bps=bps(est.relative_ci_low),
        relative_ci_high_bps=bps(est.relative_ci_high),
        lift_per_member=est.absolute_lift,
        ci_low=est.absolute_ci_low,
        ci_high=est.absolute_ci_high,
        relative_lift=est.relative_lift,
        relative_ci_low=est.relative_ci_low,
        relative_ci_high=est.relative_ci_high,
        standard_error=est.standard_error,
        degrees_of_freedom=est.degrees_of_freedom,
        cuped_theta=est.cuped_theta,
    )


def _offer_out(row: OfferAttribution) -> OfferAttributionOut:
    fields = {k: getattr(row, k) for k in OfferAttributionOut.model_fields if k != "holdout"}
    holdout = None
    if row.holdout is not None:
        h = row.holdout
        holdout = HoldoutOut(
            holdout_bps=h.holdout_bps,
            treatment=GroupSpendOut.model_validate(h.treatment, from_attributes=True),
            control=GroupSpendOut.model_validate(h.control, from_attributes=True),
            pre_period_start=h.pre_period_start,
            pre_period_end=h.pre_period_end,
            lift=_lift_out(h.lift) if h.lift is not None else None,
            lift_note=h.lift_note,
        )
    return OfferAttributionOut(**fields, holdout=holdout)


def to_out(
    rows: Sequence[OfferAttribution], *, period_start: date, period_end: date
) -> AttributionReportOut:
    return AttributionReportOut(
        period_start=_midnight_utc(period_start),
        period_end=_midnight_utc(period_end),
        counted_by=repo.BOOKED_BY,
        offers=[_offer_out(r) for r in rows],
    )


def report_to_dicts(rows: Sequence[OfferAttribution]) -> list[dict]:
    """The report as JSON-ready dicts, one per offer, in the API's shape (for stored reports)."""
    return [_offer_out(r).model_dump(mode="json") for r in rows]
