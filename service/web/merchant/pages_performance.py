"""Performance: every offer's figures for the last 30 days, and one offer over time with its
budget burn-down and, for an offer with a control group, its lift and 95% interval.

Charts are drawn by Chart.js from the JSON endpoints here (the tests read them too); each
chart has a table or a sentence beside it that says the same."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request, Response
from fastapi.responses import JSONResponse
from sqlmodel import Session

from matching.money import currency_exponent
from service.attribution.service import report_for, report_to_csv
from service.auth import db_session
from service.offers import service as offers
from service.web.merchant import performance
from service.web.merchant.common import merchant_of, page, reader
from service.web.staff.identity import Staff

router = APIRouter(prefix="/merchant", include_in_schema=False)
OfferId = Annotated[int, Path(ge=1, le=2**31 - 1)]
OVERVIEW_DAYS = 30


def _overview_rows(session: Session, who: Staff):
    today = datetime.now(UTC).date()
    start, end = today - timedelta(days=OVERVIEW_DAYS - 1), today + timedelta(days=1)
    rows = report_for(session, who.principal, period_start=start, period_end=end)
    return rows, start, end


@router.get("/performance")
def overview(request: Request, session: Session = db_session, who: Staff = Depends(reader)):
    rows, start, end = _overview_rows(session, who)
    context = {"rows": rows, "start": start, "end": end - timedelta(days=1)}
    return page(request, session, who, "merchant/performance.html", context)


@router.get("/performance.csv")
def overview_csv(session: Session = db_session, who: Staff = Depends(reader)) -> Response:
    rows, start, _ = _overview_rows(session, who)
    return Response(
        report_to_csv(rows),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="performance-{start}.csv"'},
    )


def _figures(session: Session, who: Staff, offer_id: int) -> dict:
    offer = offers.offer_in_scope(session, who.principal, offer_id)
    now = datetime.now(UTC)
    start, end = performance.period_of(offer, now)
    # At least two weeks on the chart, so a new offer's first days read as days.
    days = performance.daily(session, offer_id, min(start, end - timedelta(days=14)), end)
    spend = performance.budget(session, offer, days, now.date())
    row = performance.attribution(session, who.principal, offer, now)
    return {
        "offer": offer,
        "days": days,
        "budget": spend,
        "burn_down": performance.burn_down(offer, days, spend.used_amount),
        "row": row,
        "lift": performance.lift_json(row),
    }


@router.get("/performance/{offer_id}")
def offer_performance(
    request: Request, offer_id: OfferId, session: Session = db_session, who=Depends(reader)
):
    figures = _figures(session, who, offer_id)
    figures["out"] = offers.offer_out(session, figures["offer"])
    return page(request, session, who, "merchant/offer_performance.html", figures)


@router.get("/performance/{offer_id}/data.json")
def offer_performance_json(
    offer_id: OfferId, session: Session = db_session, who: Staff = Depends(reader)
) -> JSONResponse:
    """What the charts draw: amounts in minor units, with the currency's exponent."""
    figures = _figures(session, who, offer_id)
    offer, spend = figures["offer"], figures["budget"]
    merchant = merchant_of(session, who)
    return JSONResponse(
        {
            "offer_id": offer.id,
            "currency": offer.currency,
            "exponent": currency_exponent(offer.currency),
            "timezone": merchant.timezone,
            "days": performance.for_chart(figures["days"]),
            "by_week": len(figures["days"]) > performance.WEEKLY_AFTER_DAYS,
            "budget": {
                "total_amount": spend.total_amount,
                "used_amount": spend.used_amount,
                "daily_pace_amount": spend.daily_pace_amount,
                "runs_out_on": spend.runs_out_on.isoformat() if spend.runs_out_on else None,
                "burn_down": figures["burn_down"],
            },
            "lift": figures["lift"],
        }
    )
