"""Offers: the list, the create and edit form with plain-language terms and a live preview,
and the lifecycle buttons (publish, pause, resume, end)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Path, Request, Response
from fastapi.responses import RedirectResponse
from pydantic import ValidationError
from sqlmodel import Session

from service.auth import db_session
from service.merchants import repository as merchant_repo
from service.offers import repository as offer_repo
from service.offers import service as offers
from service.offers.schemas import OfferCreate, OfferUpdate
from service.offers.service import NULLABLE_FIELDS, TRANSITIONS
from service.problems import Problem
from service.security.card_numbers import find_card_number_field
from service.web import csrf
from service.web.app.offer_terms import terms
from service.web.forms import (
    FORM_TOKEN_FIELD,
    FormErrors,
    earlier_result,
    errors_from_problem,
    errors_from_validation,
    new_form_token,
    remember_result,
)
from service.web.merchant import offer_form
from service.web.merchant.common import SIDE, merchant_of, owner, page, reader
from service.web.merchant.preview import WHY, Customer, Sample, draft_offer, preview
from service.web.staff.identity import Staff
from service.web.templating import formatter_of, render

router = APIRouter(prefix="/merchant", include_in_schema=False)
OfferId = Annotated[int, Path(ge=1, le=2**31 - 1)]
protected = [Depends(csrf.require_csrf)]
ZERO_WHEN_BLANK = ("rate_bps", "reward_amount", "min_spend_amount", "lookback_days",
                   "min_member_tier", "birthday_bonus_bps", "holdout_bps")  # fmt: skip
CARD_NUMBER = "This looks like a card number. Card numbers are never typed here."


class _Everything:
    """Every field path is one of the form's: `place_errors` puts them on inputs."""

    def __contains__(self, _name: object) -> bool:
        return True


@router.get("")
def home() -> Response:
    return RedirectResponse("/merchant/offers", status_code=303)


@router.get("/offers")
def list_offers(request: Request, session: Session = db_session, who: Staff = Depends(reader)):
    rows = offer_repo.list_offers(session, who.merchant_id, status=None, after_id=0, limit=201)
    outs = offers.offers_out(session, rows[:200])
    merchant = merchant_of(session, who)
    fmt = formatter_of(request)
    items = [
        {"offer": out, "terms": terms(row, fmt, timezone=merchant.timezone)}
        for row, out in zip(rows, outs, strict=False)
    ]
    return page(request, session, who, "merchant/offers.html", {"items": items})


def _locations(session: Session, merchant_id: int):
    return merchant_repo.list_locations(session, merchant_id, after_id=0, limit=1000)


def _form_page(request, session, who, *, values, errors, offer=None, status=200) -> Response:
    merchant = merchant_of(session, who)
    context = {
        "values": values,
        "errors": errors,
        "offer": offer,
        "locations": _locations(session, who.merchant_id),
        "form_token": new_form_token(),
        "form_token_field": FORM_TOKEN_FIELD,
        "transitions": TRANSITIONS,
        "sample_at": _next_noon(merchant.timezone),
        "labels": offer_form.LABELS,
    }
    if offer is not None:
        context["out"] = offers.offer_out(session, offer)
        context["terms_text"] = terms(offer, formatter_of(request), timezone=merchant.timezone)
    return page(request, session, who, "merchant/offer_form.html", context, status)


def _next_noon(timezone: str) -> str:
    local = datetime.now(UTC).astimezone(ZoneInfo(timezone)) + timedelta(days=1)
    return local.replace(hour=12, minute=0).strftime("%Y-%m-%dT%H:%M")


@router.get("/offers/new")
def new_offer(request: Request, session: Session = db_session, who: Staff = Depends(owner)):
    merchant = merchant_of(session, who)
    now_local = datetime.now(UTC).astimezone(ZoneInfo(merchant.timezone))
    values = {
        "kind": "cashback",
        "reward_type": "percent",
        "audience": "everyone",
        "hold_days": "30",
        "starts_at": now_local.strftime("%Y-%m-%dT%H:%M"),
        "daypart_days": [],
        "location_ids": [],
    }
    return _form_page(request, session, who, values=values, errors=FormErrors())


async def _read_form(request: Request) -> tuple[dict, dict[str, list[str]]]:
    form = await request.form()
    single = {k: v for k, v in form.items() if isinstance(v, str)}
    lists = {k: [v for v in form.getlist(k) if isinstance(v, str)] for k in form}
    return single, lists


def _echo(single: dict, lists: dict) -> dict:
    values = dict(single)
    values["daypart_days"] = lists.get("daypart_days", [])
    values["location_ids"] = lists.get("location_ids", [])
    values["activation_required"] = single.get("activation_required") in ("on", "true")
    return values


def _unchanged(single: dict, lists: dict, shown: dict) -> set[str]:
    """API fields whose inputs still hold what the form showed: they are not sent, so an
    edit never rewrites what the form cannot show exactly (seconds, extra day parts)."""
    same = set()
    for name in offer_form.FORM_FIELDS:
        if name in ("daypart_days", "location_ids"):
            if sorted(lists.get(name, [])) == sorted(shown.get(name) or []):
                same.add(name)
        elif name == "activation_required":
            if (single.get(name) in ("on", "true")) == bool(shown.get(name)):
                same.add(name)
        elif (single.get(name) or "").strip() == str(shown.get(name) or ""):
            same.add(name)
    if {"daypart_days", "daypart_start", "daypart_end"} <= same:
        same.add("dayparts")
    return same


def _parse(single, lists, merchant, model, *, blanks_clear: bool, gettext, unchanged=()):
    """(validated model or None, errors) for the offer form."""
    for name, value in single.items():
        # Only what a person types: the form's CSRF and form tokens are random, and a hex
        # one often holds a digit run that passes for a card number.
        if name in offer_form.FORM_FIELDS and find_card_number_field(value) is not None:
            single[name] = ""
            return None, FormErrors(fields={name: gettext(CARD_NUMBER)})
    api, errors = offer_form.to_api(
        single, lists, currency=merchant.currency, timezone=merchant.timezone
    )
    if blanks_clear:
        for name in (*offer_form.MONEY_FIELDS, *offer_form.INT_FIELDS, "ends_at", "channel"):
            if name not in api and name not in errors.fields and name in NULLABLE_FIELDS:
                api[name] = None
        for name in ZERO_WHEN_BLANK:
            api.setdefault(name, 0)
    for name in unchanged:
        api.pop(name, None)
    if errors:
        return None, errors
    try:
        return model.model_validate(api), FormErrors()
    except ValidationError as exc:
        return None, offer_form.place_errors(errors_from_validation(exc, _Everything(), gettext))


@router.post("/offers", dependencies=protected)
async def create_offer(request: Request, session: Session = db_session, who=Depends(owner)):
    single, lists = await _read_form(request)
    token = single.get(FORM_TOKEN_FIELD)
    earlier = earlier_result(session, token)
    if earlier is not None:
        return RedirectResponse(earlier, status_code=303)  # a double submit: the first offer
    merchant = merchant_of(session, who)
    gettext = formatter_of(request).gettext
    data, errors = _parse(single, lists, merchant, OfferCreate, blanks_clear=False, gettext=gettext)
    if data is not None:
        now = datetime.now(UTC)
        try:
            offer = offers.create_offer(session, merchant, data, principal=who.principal, now=now)
        except Problem as exc:
            session.rollback()
            errors = offer_form.place_errors(errors_from_problem(exc, _Everything(), gettext))
        else:
            target = f"/merchant/offers/{offer.id}?created=1"
            if not remember_result(
                session, token, audience=SIDE, subject_id=who.id, result_path=target, now=now
            ):
                session.rollback()
                return RedirectResponse(earlier_result(session, token) or "/merchant/offers", 303)
            return RedirectResponse(target, status_code=303)
    return _form_page(
        request, session, who, values=_echo(single, lists), errors=errors, status=errors.status
    )


@router.get("/offers/{offer_id}")
def edit_offer(
    request: Request, offer_id: OfferId, session: Session = db_session, who=Depends(reader)
):
    offer = offers.offer_in_scope(session, who.principal, offer_id)
    merchant = merchant_of(session, who)
    location_ids = offer_repo.location_ids_by_offer(session, [offer_id])[offer_id]
    values = offer_form.from_offer(offer, location_ids, merchant.timezone)
    return _form_page(request, session, who, values=values, errors=FormErrors(), offer=offer)


@router.post("/offers/{offer_id}", dependencies=protected)
async def update_offer(
    request: Request, offer_id: OfferId, session: Session = db_session, who=Depends(owner)
):
    offer = offers.offer_in_scope(session, who.principal, offer_id)
    single, lists = await _read_form(request)
    merchant = merchant_of(session, who)
    gettext = formatter_of(request).gettext
    location_ids = offer_repo.location_ids_by_offer(session, [offer_id])[offer_id]
    shown = offer_form.from_offer(offer, location_ids, merchant.timezone)
    data, errors = _parse(
        single, lists, merchant, OfferUpdate, blanks_clear=True, gettext=gettext,
        unchanged=_unchanged(single, lists, shown),
    )  # fmt: skip
    if data is not None:
        try:
            offers.update_offer(
                session, offer, data, principal=who.principal, now=datetime.now(UTC)
            )
        except Problem as exc:
            session.rollback()  # nothing of a refused edit is kept
            errors = offer_form.place_errors(errors_from_problem(exc, _Everything(), gettext))
        else:
            return RedirectResponse(f"/merchant/offers/{offer_id}?saved=1", status_code=303)
    offer = offers.offer_in_scope(session, who.principal, offer_id)
    return _form_page(
        request, session, who, values=_echo(single, lists), errors=errors, offer=offer,
        status=errors.status,
    )  # fmt: skip


@router.post("/offers/{offer_id}/{action}", dependencies=protected)
def change_status(
    request: Request,
    offer_id: OfferId,
    action: Annotated[str, Path(pattern="^(publish|pause|resume|end)$")],
    session: Session = db_session,
    who: Staff = Depends(owner),
) -> Response:
    offer = offers.offer_in_scope(session, who.principal, offer_id)
    try:
        offers.transition(session, offer, action, now=datetime.now(UTC))
    except Problem as exc:
        session.rollback()
        message = formatter_of(request).gettext(exc.detail)
        offer = offers.offer_in_scope(session, who.principal, offer_id)
        merchant = merchant_of(session, who)
        location_ids = offer_repo.location_ids_by_offer(session, [offer_id])[offer_id]
        values = offer_form.from_offer(offer, location_ids, merchant.timezone)
        return _form_page(
            request, session, who, values=values, errors=FormErrors(general=message, status=409),
            offer=offer, status=409,
        )  # fmt: skip
    return RedirectResponse(f"/merchant/offers/{offer_id}?{action}=1", status_code=303)


@router.post("/offer-preview", dependencies=protected)
async def offer_preview(request: Request, session: Session = db_session, who=Depends(reader)):
    """The terms and the sample purchase's outcome for the form as typed (htmx)."""
    single, lists = await _read_form(request)
    merchant = merchant_of(session, who)
    fmt = formatter_of(request)
    fmt.timezone = merchant.timezone
    data, errors = _parse(
        single, lists, merchant, OfferCreate, blanks_clear=False, gettext=fmt.gettext
    )
    context: dict = {"errors": errors, "merchant": merchant, "labels": offer_form.LABELS}
    sample_errors: dict[str, str] = {}
    try:
        amount = offer_form._money(single.get("sample_amount") or "0", merchant.currency)
        if amount <= 0:
            raise ValueError
    except (ValueError, ArithmeticError):
        sample_errors["sample_amount"] = fmt.gettext(offer_form.BAD_AMOUNT)
        amount = 0
    try:
        at = offer_form._local_time(single.get("sample_at") or "", merchant.timezone)
    except ValueError:
        sample_errors["sample_at"] = fmt.gettext(offer_form.BAD_TIME)
        at = datetime.now(UTC)
    chosen = single.get("sample_customer")
    customer: Customer = chosen if chosen in ("new", "returning", "lapsed") else "new"
    context["sample_errors"] = sample_errors
    if data is not None:
        existing = single.get("offer_id") or ""
        offer_id = int(existing) if existing.isdigit() else 0
        if offer_id:
            offers.offer_in_scope(session, who.principal, offer_id)  # never another merchant's
        draft = draft_offer(merchant, data, offer_id=offer_id, now=datetime.now(UTC))
        context["terms_text"] = terms(draft, fmt, timezone=merchant.timezone)
        if not sample_errors:
            mids = [
                loc.mid
                for loc in _locations(session, who.merchant_id)
                if not data.location_ids or loc.id in data.location_ids
            ]
            result = preview(draft, merchant, Sample(amount, at, customer), mids)
            context["result"] = result
            context["why"] = fmt.gettext(
                WHY.get(result.reason, result.reason),
                zone=merchant.timezone,
                nth=fmt.ordinal(data.stamp_every_n or 0),
            )
            context["sample_amount"] = amount
    return render(request, "merchant/_preview.html", context)
