"""Missing-cashback claims at this brand: the queue, each claim's receipt, and (owners)
accept or decline with a reason, by the same `decide_claim` as
`POST /v1/claims/{id}/decision`. Accepting books the reward inside the offer's budget and the
member's caps; when neither leaves room the claim is declined with that reason."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from fastapi.responses import RedirectResponse
from pydantic import ValidationError
from sqlmodel import Session

from service.auth import db_session
from service.claims import repository as repo
from service.claims import service as claims
from service.claims.schemas import ClaimDecision
from service.problems import Problem
from service.web import csrf
from service.web.app.pages_claims import CLAIM_REASONS
from service.web.app.reasons import REASONS
from service.web.forms import FormErrors, errors_from_problem, errors_from_validation
from service.web.merchant.common import owner, page, reader
from service.web.staff.identity import Staff
from service.web.templating import formatter_of

router = APIRouter(prefix="/merchant", include_in_schema=False)
ClaimId = Annotated[int, Path(ge=1, le=2**31 - 1)]
SHOWN = 100
STATUSES = ("submitted", "accepted", "declined")


def _page(request, session, who: Staff, status: str, *, errors=None, code=200):
    fmt = formatter_of(request)
    rows = repo.list_claims(
        session, merchant_id=who.merchant_id, status=status, after_id=0, limit=SHOWN
    )
    shown = []
    for c in claims.claims_out(session, rows):
        text = CLAIM_REASONS.get(c.reason or "") or REASONS.get(c.reason or "")
        shown.append({"claim": c, "reason": fmt.gettext(text) if text else None})
    context = {
        "claims": shown,
        "status": status,
        "statuses": STATUSES,
        "errors": errors or FormErrors(),
    }
    return page(request, session, who, "merchant/claims.html", context, code)


@router.get("/claims")
def claim_queue(
    request: Request,
    status: Annotated[str, Query(pattern="^(submitted|accepted|declined)$")] = "submitted",
    session: Session = db_session,
    who: Staff = Depends(reader),
):
    return _page(request, session, who, status)


@router.get("/claims/{claim_id}/receipt")
def claim_receipt(claim_id: ClaimId, session: Session = db_session, who=Depends(reader)):
    receipt = claims.read_receipt(session, who.principal, claim_id)  # another brand's: 404
    return Response(
        content=receipt.body,
        media_type=receipt.content_type,
        headers={"X-Content-Type-Options": "nosniff", "Content-Disposition": "inline"},
    )


@router.post("/claims/{claim_id}/decision", dependencies=[Depends(csrf.require_csrf)])
async def decide(
    request: Request, claim_id: ClaimId, session: Session = db_session, who=Depends(owner)
):
    fmt = formatter_of(request)
    form = await request.form()
    values = {k: str(form.get(k) or "") for k in ("decision", "reason")}
    try:
        body = ClaimDecision.model_validate(values)
        claim, _ = claims.decide_claim(
            session, who.principal, claim_id, body, actor=who.actor, now=datetime.now(UTC)
        )
    except ValidationError as exc:
        errors = errors_from_validation(exc, set(), fmt.gettext)
        return _page(request, session, who, "submitted", errors=errors, code=422)
    except Problem as exc:
        if exc.status == 404:
            raise
        session.rollback()
        errors = errors_from_problem(exc, set(), fmt.gettext)
        return _page(request, session, who, "submitted", errors=errors, code=exc.status)
    return RedirectResponse(
        f"/merchant/claims?decided={claim.id}&outcome={claim.status}", status_code=303
    )
