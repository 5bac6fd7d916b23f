"""Sign-in, sign-out and invitation pages, the same for /merchant and /finance."""

from __future__ import annotations

from datetime import UTC, date, datetime, time

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import RedirectResponse
from sqlmodel import Session

from service.auth import db_session
from service.problems import Problem
from service.web import csrf
from service.web.forms import FormErrors, errors_from_problem, validate
from service.web.i18n import N_
from service.web.sessions import (
    clear_session_cookie,
    end_session,
    rotate_session,
    set_session_cookie,
)
from service.web.staff.accounts import (
    AcceptInviteIn,
    StaffSignIn,
    accept_invite,
    sign_in,
    user_by_invite,
)
from service.web.staff.identity import Staff, optional_staff, safe_next
from service.web.templating import environment, formatter_of, render

TOO_MANY = N_("Too many attempts. Wait a few minutes and try again.")
TITLES = {"merchant": N_("Merchant portal"), "finance": N_("Finance console")}


def _signed_in_response(request: Request, session: Session, side: str, user_id: int, target: str):
    settings = request.app.state.settings
    token = rotate_session(
        session,
        request,
        audience=side,
        subject_id=user_id,
        now=datetime.now(UTC),
        days=settings.web_session_days,
    )
    csrf.renew(request)
    response = RedirectResponse(safe_next(side, target), status_code=303)
    set_session_cookie(
        response,
        audience=side,
        token=token,
        secure=settings.cookies_secure,
        days=settings.web_session_days,
    )
    return response


def account_router(side: str) -> APIRouter:
    """The sign-in, sign-out and invitation routes of one staff front end."""
    router = APIRouter(prefix=f"/{side}", include_in_schema=False)
    optional = optional_staff(side)
    protected = [Depends(csrf.require_csrf)]

    def page(request: Request, values: dict, errors: FormErrors, next_path: str) -> Response:
        context = {
            "side": side,
            "side_title": TITLES[side],
            "values": values,
            "errors": errors,
            "next": next_path,
        }
        response = render(
            request, "staff/sign_in.html", context, status=errors.status if errors else 200
        )
        if errors.status == 429:
            response.headers["Retry-After"] = "60"
        return response

    @router.get("/sign-in")
    def sign_in_page(
        request: Request, next: str | None = None, who: Staff | None = Depends(optional)
    ) -> Response:
        if who is not None:
            return RedirectResponse(safe_next(side, next), status_code=303)
        return page(request, {}, FormErrors(), safe_next(side, next))

    @router.post("/sign-in", dependencies=protected)
    async def sign_in_submit(request: Request, session: Session = db_session) -> Response:
        form = dict(await request.form())
        next_path = safe_next(side, str(form.get("next") or ""))
        email = str(form.get("email") or "")[:254]
        address = request.client.host if request.client else "unknown"
        limiter = request.app.state.sign_in_limiter
        gettext = formatter_of(request).gettext
        data, errors = validate(StaffSignIn, form, gettext)
        if not errors and not limiter.allowed(side, email, address):
            errors = FormErrors(status=429, general=gettext(TOO_MANY))
        elif not errors:
            try:
                user = sign_in(session, data, side=side)
            except Problem as exc:
                limiter.failed(side, email, address)
                errors = errors_from_problem(exc, {"email", "password"}, gettext)
            else:
                assert user.id is not None
                return _signed_in_response(request, session, side, user.id, next_path)
        return page(request, {"email": email}, errors, next_path)

    @router.post("/sign-out", dependencies=protected)
    def sign_out(
        request: Request, session: Session = db_session, who: Staff | None = Depends(optional)
    ) -> Response:
        if who is not None:
            end_session(session, who.web_session, now=datetime.now(UTC))
        csrf.renew(request)
        response = RedirectResponse(f"/{side}/sign-in?signed_out=1", status_code=303)
        clear_session_cookie(
            response, audience=side, secure=request.app.state.settings.cookies_secure
        )
        return response

    @router.get("/welcome")
    def welcome_page(request: Request, token: str = "", session: Session = db_session):
        user = user_by_invite(session, token, now=datetime.now(UTC))
        context = {"side_title": TITLES[side], "side": side, "user": user, "token": token}
        return render(request, "staff/welcome.html", {**context, "errors": FormErrors()})

    @router.post("/welcome", dependencies=protected)
    async def welcome_submit(request: Request, session: Session = db_session) -> Response:
        form = dict(await request.form())
        token = str(form.get("token") or "")
        user = user_by_invite(session, token, now=datetime.now(UTC))
        data, errors = validate(AcceptInviteIn, form, formatter_of(request).gettext)
        if errors:
            context = {"side_title": TITLES[side], "side": side, "user": user, "token": token}
            return render(request, "staff/welcome.html", {**context, "errors": errors}, 422)
        accept_invite(session, user, data)
        assert user.id is not None
        return _signed_in_response(request, session, side, user.id, f"/{side}")

    return router


def _as_datetime(value: date) -> datetime:
    """A calendar day as noon UTC, for the formatter (the same day in every time zone the
    pages use)."""
    return datetime.combine(value, time(12), tzinfo=UTC)


environment.filters["as_datetime"] = _as_datetime


def _aware(value: datetime) -> datetime:
    """SQLite gives stored times back without their offset; they are UTC."""
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


environment.filters["aware"] = _aware
