"""Missing cashback: a member claims a purchase that earned nothing (from its activity item)
or never showed up, with an optional receipt, and follows each claim's status.

The form is checked by the API's `ClaimCreate` and filed by the same `file_claim` as
`POST /v1/members/{id}/claims`, with the form's one-shot token as its idempotency key, so a
double submit files one claim; the receipt is judged by its bytes, as `PUT .../receipt` does.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import RedirectResponse
from sqlmodel import Session

from matching.money import currency_exponent
from service.auth import db_session
from service.claims import repository as repo
from service.claims import service as claims
from service.claims.limits import claim_limiter
from service.claims.receipts import MAX_RECEIPT_BYTES, check_receipt
from service.claims.schemas import ClaimCreate
from service.problems import Problem
from service.tables import Merchant
from service.web import csrf
from service.web.app.identity import SignedIn, current_member
from service.web.app.pages_wallet import _minor_units
from service.web.app.reasons import REASONS
from service.web.forms import (
    FORM_TOKEN_FIELD,
    FormErrors,
    errors_from_problem,
    new_form_token,
    validate,
)
from service.web.i18n import N_
from service.web.templating import formatter_of, render

router = APIRouter(prefix="/app/claims", include_in_schema=False)
protected = [Depends(csrf.require_csrf)]
FIELDS = ("merchant_id", "purchase_date", "amount", "currency", "card_last4", "note", "receipt")
SHOWN_CLAIMS = 50

STATUS_TEXT = {
    "submitted": N_("Waiting for the merchant"),
    "accepted": N_("Accepted"),
    "declined": N_("Declined"),
    "refused": N_("Not taken"),
}
CLAIM_REASONS = {
    "no_offer_in_window": N_("No offer you could earn was open at this merchant on that day."),
    "declined": N_("The merchant declined the claim."),
}


def _claim_rows(session: Session, member_id: int, fmt) -> list[dict]:
    rows = repo.list_claims(session, member_id=member_id, after_id=0, limit=SHOWN_CLAIMS)
    out = []
    for c in reversed(claims.claims_out(session, rows)):  # newest first
        reason = None
        if c.status in ("declined", "refused") and c.reason:
            text = CLAIM_REASONS.get(c.reason) or REASONS.get(c.reason)
            reason = fmt.gettext(text) if text else None
        out.append(
            {
                "claim": c,
                "status": fmt.gettext(STATUS_TEXT[c.status]),
                "reason": reason,
            }
        )
    return out


@router.get("")
def claim_list(
    request: Request, session: Session = db_session, who: SignedIn = Depends(current_member)
) -> Response:
    fmt = formatter_of(request)
    context = {"who": who, "rows": _claim_rows(session, who.member_id, fmt)}
    return render(request, "app/claims.html", context)


def _form(
    request: Request,
    session: Session,
    who: SignedIn,
    *,
    values: dict,
    errors: FormErrors | None = None,
    status: int = 200,
) -> Response:
    context = {
        "who": who,
        "merchants": repo.claimable_merchants(session),
        "cards": repo.member_cards(session, who.member_id),
        "values": values,
        "errors": errors or FormErrors(),
        "form_token": new_form_token(),
        "form_token_field": FORM_TOKEN_FIELD,
        "max_receipt_mb": MAX_RECEIPT_BYTES // (1024 * 1024),
    }
    return render(request, "app/claim_form.html", context, status=status)


@router.get("/new")
def new_claim(
    request: Request,
    event: Annotated[int | None, Query(ge=1, le=2**63 - 1)] = None,
    session: Session = db_session,
    who: SignedIn = Depends(current_member),
) -> Response:
    """The form, filled in from an activity item when the member came from one."""
    values: dict[str, str] = {"purchase_date": datetime.now(UTC).date().isoformat()}
    found = repo.member_event(session, who.member_id, event) if event is not None else None
    if found is not None:
        values.update(
            card_event_id=str(found.id),
            merchant_id=str(found.merchant_id or ""),
            purchase_date=found.occurred_at.date().isoformat(),
            amount=_major_units(found.amount, found.currency),
            currency=found.currency,
            card_last4=repo.card_last4s(session, [found.card_id]).get(found.card_id, ""),
        )
        merchant = session.get(Merchant, found.merchant_id) if found.merchant_id else None
        values["merchant_name"] = merchant.brand_name if merchant else found.merchant_name or ""
    return _form(request, session, who, values=values)


def _major_units(amount: int, currency: str) -> str:
    """4000 USD -> "40.00": what the amount field shows and `_minor_units` reads back."""
    return str(Decimal(amount).scaleb(-currency_exponent(currency)))


def _currency_of(session: Session, merchant_id: str) -> str:
    """A claim is in its merchant's currency (a merchant not found: the model says so)."""
    if not merchant_id.isdigit() or len(merchant_id) > 9:
        return "USD"
    merchant = session.get(Merchant, int(merchant_id))
    return merchant.currency if merchant is not None else "USD"


@router.post("", dependencies=protected)
async def file_claim(
    request: Request,
    session: Session = db_session,
    who: SignedIn = Depends(current_member),
) -> Response:
    fmt = formatter_of(request)
    form = await request.form()
    values = {
        k: str(form.get(k) or "")
        for k in ("merchant_id", "purchase_date", "amount", "card_last4", "note", "card_event_id")
    }
    token = str(form.get(FORM_TOKEN_FIELD) or "")[:40] or new_form_token()
    currency = _currency_of(session, values["merchant_id"])
    data: dict[str, object] = {**values, "currency": currency}
    for name in ("merchant_id", "card_event_id"):  # ids are integers; anything else is refused
        if values[name].isdigit() and len(values[name]) < 19:
            data[name] = int(values[name])
    data["amount"] = _minor_units(values["amount"], currency)
    body, errors = validate(ClaimCreate, data, fmt.gettext)
    if data["amount"] is None:
        errors.fields["amount"] = fmt.gettext("Enter an amount like 12.50.")
        body = None
    upload = form.get("receipt")
    receipt = b""
    if upload is not None and not isinstance(upload, str) and upload.filename:
        receipt = await upload.read(MAX_RECEIPT_BYTES + 1)
    if errors or body is None:
        return _form(request, session, who, values=values, errors=errors, status=errors.status)
    try:
        if receipt:
            check_receipt(receipt)  # before anything is filed: a claim and its receipt, or neither
        filed = claims.file_claim(
            session,
            who.principal,
            who.member_id,
            body,
            f"web-{token}",
            limiter=claim_limiter(request),
            now=datetime.now(UTC),
        )
        if filed.claim.status == "refused":
            session.commit()  # kept, with its reason, like every refused input
            raise claims.refused_problem(filed.claim)
        if receipt and filed.created:
            assert filed.claim.id is not None
            claims.store_receipt(
                session, who.principal, filed.claim.id, receipt, now=datetime.now(UTC)
            )
    except Problem as exc:
        session.rollback()
        found = errors_from_problem(exc, FIELDS, fmt.gettext)
        if exc.reason == "no_offer_in_window":
            found.fields["purchase_date"] = fmt.gettext(CLAIM_REASONS["no_offer_in_window"])
        return _form(request, session, who, values=values, errors=found, status=found.status)
    return RedirectResponse(f"/app/claims?filed={filed.claim.id}", status_code=303)


def claimable(row_kind: str, state: str) -> bool:
    """Whether an activity item offers "Missing cashback?": a purchase that earned nothing."""
    return row_kind in ("auth", "clearing") and state == "none"
