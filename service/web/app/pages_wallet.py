"""The wallet: pending, available and lifetime cashback, when pending becomes available,
and cashing out (a payout account for the weekly payout) or donating to a charity.

Payouts and donations go through the settlement code: the weekly settlement run pays every
available balance above the minimum to members with a payout account, and a donation books
through `make_donation`, as `POST /v1/members/{id}/donations` does.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated

import stripe
from fastapi import APIRouter, Depends, Form, Request, Response
from fastapi.responses import RedirectResponse
from sqlmodel import Session, col, select

from matching.money import decimal_to_minor
from service.auth import db_session
from service.members import repository as member_repo
from service.members import service as members
from service.problems import Problem
from service.settlements import repository as settlement_repo
from service.settlements import service as settlements
from service.settlements.schemas import DonationIn, PayoutAccountIn
from service.settlements.tables import Charity, Donation
from service.stripe_linking.service import client_for
from service.web import csrf
from service.web.app.identity import AUDIENCE, SignedIn, current_member
from service.web.forms import (
    FORM_TOKEN_FIELD,
    FormErrors,
    earlier_result,
    errors_from_problem,
    new_form_token,
    remember_result,
    validate,
)
from service.web.templating import formatter_of, render
from settlement.runs.tables import MemberPayout

router = APIRouter(prefix="/app/wallet", include_in_schema=False)
protected = [Depends(csrf.require_csrf)]
SHOWN_ROWS = 20


def next_payout_day(now: datetime) -> datetime:
    """Settlement runs on Mondays (03:00 UTC): the next one pays what is available."""
    days = (7 - now.weekday()) % 7 or 7
    return (now + timedelta(days=days)).replace(hour=3, minute=0, second=0, microsecond=0)


def money_moves(session: Session, member_id: int) -> tuple[list, list]:
    """The member's latest payouts and donations (newest first)."""
    payouts = list(
        session.exec(
            select(MemberPayout)
            .where(MemberPayout.member_id == member_id)
            .order_by(col(MemberPayout.id).desc())
            .limit(SHOWN_ROWS)
        )
    )
    donations = list(
        session.exec(
            select(Donation, Charity.name)
            .join(Charity, col(Charity.id) == Donation.charity_id)
            .where(Donation.member_id == member_id)
            .order_by(col(Donation.id).desc())
            .limit(SHOWN_ROWS)
        )
    )
    return payouts, donations


def _page(
    request: Request,
    session: Session,
    who: SignedIn,
    *,
    errors: FormErrors | None = None,
    values: dict | None = None,
    status: int = 200,
) -> Response:
    settings = request.app.state.settings
    now = datetime.now(UTC)
    balances = members.balances(session, who.member).balances
    upcoming = member_repo.pending_rewards_by_release(session, who.member_id, limit=10)
    payouts, donations = money_moves(session, who.member_id)
    charities = settlements.list_charities(session, after_id=0, limit=50)
    context = {
        "who": who,
        "balances": balances,
        "upcoming": upcoming,
        "payout_account": settlement_repo.payout_account(session, who.member_id),
        "minimum": settings.payout_minimum_amount,
        "next_payout": next_payout_day(now),
        "payouts": payouts,
        "donations": donations,
        "charities": charities,
        "errors": errors or FormErrors(),
        "values": values or {},
        "form_token": new_form_token(),
        "form_token_field": FORM_TOKEN_FIELD,
    }
    return render(request, "app/wallet.html", context, status=status)


@router.get("")
def wallet(
    request: Request, session: Session = db_session, who: SignedIn = Depends(current_member)
) -> Response:
    return _page(request, session, who)


@router.post("/payout-account", dependencies=protected)
def connect_payout_account(
    request: Request, session: Session = db_session, who: SignedIn = Depends(current_member)
) -> Response:
    """Stripe Connect onboarding: a connected account for the member (once), kept as their
    payout account. With real keys Stripe's hosted onboarding would follow."""
    if settlement_repo.payout_account(session, who.member_id) is None:
        client = client_for(request.app.state.settings)
        try:
            account = client.v1.accounts.create(
                {"type": "express", "metadata": {"clo_member_id": str(who.member_id)}},
                {"idempotency_key": f"clo-member-{who.member_id}-connect"},
            )
        except stripe.StripeError:
            errors = FormErrors(status=502)
            errors.general = formatter_of(request).gettext(
                "Stripe could not set up payouts just now. Try again in a minute."
            )
            return _page(request, session, who, errors=errors, status=502)
        settlements.set_payout_account(
            session,
            who.principal,
            who.member_id,
            PayoutAccountIn(stripe_account_id=account.id),
            now=datetime.now(UTC),
        )
    return RedirectResponse("/app/wallet?payouts=on#cash-out", status_code=303)


@router.post("/donations", dependencies=protected)
async def donate(
    request: Request,
    form_token: Annotated[str, Form(max_length=64)] = "",
    session: Session = db_session,
    who: SignedIn = Depends(current_member),
) -> Response:
    form = dict(await request.form())
    fmt = formatter_of(request)
    done = earlier_result(session, form_token)
    if done is not None:  # the same form submitted twice: one donation
        return RedirectResponse(done, status_code=303)
    values = {k: str(form.get(k) or "") for k in ("charity_id", "amount", "currency")}
    data: dict[str, int | str | None] = dict(values)
    data["amount"] = _minor_units(values["amount"], values["currency"])
    body, errors = validate(DonationIn, data, fmt.gettext)
    if data["amount"] is None:
        errors.fields["amount"] = fmt.gettext("Enter an amount like 12.50.")
        body = None
    if not errors and body is not None:
        try:
            donation, _ = settlements.make_donation(
                session,
                who.principal,
                who.member_id,
                body,
                f"web-{form_token}",
                now=datetime.now(UTC),
            )
        except Problem as exc:
            session.rollback()
            errors = errors_from_problem(exc, {"charity_id", "amount", "currency"})
        else:
            target = f"/app/wallet?donated={donation.id}#donations"
            remember_result(
                session, form_token, audience=AUDIENCE, subject_id=who.member_id,
                result_path=target, now=datetime.now(UTC),
            )  # fmt: skip
            return RedirectResponse(target, status_code=303)
    return _page(request, session, who, errors=errors, values=values, status=errors.status)


def _minor_units(text: str, currency: str) -> int | str | None:
    """ "12.50" (or "12,50") in USD → 1250, exactly; None when it is not an amount."""
    if not text.strip():
        return ""  # missing: the model says so
    try:
        return decimal_to_minor(text.strip().replace(",", "."), currency or "USD")
    except (ValueError, KeyError, TypeError):
        return None
