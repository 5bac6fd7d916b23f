"""Card names no brand claimed yet (Plaid merchant names and entity ids): claim one for this
brand and its earlier card events are matched again, by the same call as the API's
`POST /v1/merchants/{id}/unresolved-merchants/{id}/map`."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request
from fastapi.responses import RedirectResponse
from sqlmodel import Session, or_, select

from service.auth import db_session
from service.linking_tables import UnresolvedMerchant
from service.plaid import review
from service.problems import Problem
from service.web import csrf
from service.web.forms import errors_from_problem
from service.web.merchant.common import owner, page, reader
from service.web.staff.identity import Staff
from service.web.templating import formatter_of

router = APIRouter(prefix="/merchant", include_in_schema=False)
Id = Annotated[int, Path(ge=1, le=2**31 - 1)]
SHOWN = 100
SCANNED = 2_000


def _page(request, session, who, *, errors=None, status=200):
    query = (
        select(UnresolvedMerchant)
        .where(
            or_(
                UnresolvedMerchant.status == "open",
                UnresolvedMerchant.merchant_id == who.merchant_id,  # never another brand's
            )
        )
        .order_by(UnresolvedMerchant.status.desc(), UnresolvedMerchant.event_count.desc())
        .limit(SCANNED)
    )
    # Only names that point at this brand, as the API's review queue shows them.
    own_names = review.names_of_merchant(session, who.merchant_id)
    shown = [r for r in session.exec(query) if review.visible_to(r, who.merchant_id, own_names)]
    context = {"names": shown[:SHOWN], "errors": errors}
    return page(request, session, who, "merchant/names.html", context, status)


@router.get("/names")
def names(request: Request, session: Session = db_session, who: Staff = Depends(reader)):
    return _page(request, session, who)


@router.post("/names/{unresolved_id}/map", dependencies=[Depends(csrf.require_csrf)])
def map_name(
    request: Request, unresolved_id: Id, session: Session = db_session, who=Depends(owner)
):
    try:
        out = review.map_unresolved(
            merchant_id=who.merchant_id,
            unresolved_id=unresolved_id,
            request=request,
            session=session,
            principal=who.principal,
        )
    except Problem as exc:
        if exc.status == 404:
            raise
        session.rollback()
        errors = errors_from_problem(exc, set(), formatter_of(request).gettext)
        return _page(request, session, who, errors=errors, status=exc.status)
    target = (
        f"/merchant/names?mapped={unresolved_id}&events={out.rematched_events}"
        f"&rewarded={out.rewarded_events}&amount={out.reward_amount}"
    )
    return RedirectResponse(target, status_code=303)
