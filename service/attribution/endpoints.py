"""Offer attribution and incrementality for finance, admins and (their own offers) merchants."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import Depends, Query, Response
from sqlmodel import Session

from service.attribution import service
from service.attribution.schemas import AttributionReportOut
from service.auth import Principal, Role, db_session, require
from service.merchants.common import MAX_ID
from service.routing import make_router

router = make_router(tags=["attribution"])

readers = require(Role.FINANCE, Role.MERCHANT)

PeriodStart = Annotated[date, Query(description="first day of the period (UTC), included")]
PeriodEnd = Annotated[date, Query(description="day after the period (UTC), not included")]
OfferId = Annotated[int | None, Query(ge=1, le=MAX_ID, description="only this offer")]


@router.get("/attribution", summary="Attribution per offer and period, with holdout lift")
def get_attribution(
    period_start: PeriodStart,
    period_end: PeriodEnd,
    offer_id: OfferId = None,
    session: Session = db_session,
    principal: Principal = Depends(readers),
) -> AttributionReportOut:
    rows = service.report_for(
        session, principal, period_start=period_start, period_end=period_end, offer_id=offer_id
    )
    return service.to_out(rows, period_start=period_start, period_end=period_end)


@router.get(
    "/attribution.csv",
    summary="The attribution report as CSV",
    response_class=Response,
    responses={200: {"content": {"text/csv": {}}}},
)
def get_attribution_csv(
    period_start: PeriodStart,
    period_end: PeriodEnd,
    offer_id: OfferId = None,
    session: Session = db_session,
    principal: Principal = Depends(readers),
) -> Response:
    rows = service.report_for(
        session, principal, period_start=period_start, period_end=period_end, offer_id=offer_id
    )
    filename = f"attribution_{period_start.isoformat()}_{period_end.isoformat()}.csv"
    return Response(
        service.report_to_csv(rows),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )
