"""Sign up, sign in, sign out (here or everywhere) and the language of the member app."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request, Response
from fastapi.responses import RedirectResponse
from sqlmodel import Session

from service.auth import db_session
from service.problems import Problem
from service.web import csrf
from service.web.app.accounts import SignIn, SignUp, sign_in, sign_up
from service.web.app.identity import (
    AUDIENCE,
    HOME,
    SIGN_IN,
    SignedIn,
    current_member,
    optional_member,
    safe_next,
)
from service.web.forms import (
    FORM_TOKEN_FIELD,
    FormErrors,
    earlier_result,
    errors_from_problem,
    new_form_token,
    remember_result,
    validate,
)
from service.web.i18n import LANGUAGE_COOKIE, LANGUAGES, N_
from service.web.sessions import (
    clear_session_cookie,
    end_every_session,
    end_session,
    rotate_session,
    set_session_cookie,
)
from service.web.tables import MemberLogin
from service.web.templating import formatter_of, render

router = APIRouter(prefix="/app", include_in_schema=False)
TOO_MANY = N_("Too many attempts. Wait a few minutes and try again.")
protected = [Depends(csrf.require_csrf)]


def signed_in_response(request: Request, session: Session, member_id: int, target: str) -> Response:
    settings = request.app.state.settings
    now = datetime.now(UTC)
    token = rotate_session(
        session,
        request,
        audience=AUDIENCE,
        subject_id=member_id,
        now=now,
        days=settings.web_session_days,
    )
    csrf.renew(request)
    response = RedirectResponse(safe_next(target), status_code=303)
    set_session_cookie(
        response,
        audience=AUDIENCE,
        token=token,
        secure=settings.cookies_secure,
        days=settings.web_session_days,
    )
    return response


WELCOME = "/app/cards?welcome=1"


def _sign_up_page(request: Request, values: dict, errors: FormErrors, next_path: str) -> Response:
    context = {
        "values": values,
        "errors": errors,
        "next": next_path,
        "form_token": new_form_token(),
        "form_token_field": FORM_TOKEN_FIELD,
    }
    return render(request, "app/sign_up.html", context, status=errors.status if errors else 200)


@router.get("/sign-up")
def sign_up_page(request: Request, next: str | None = None) -> Response:
    return _sign_up_page(request, {}, FormErrors(), safe_next(next))


@router.post("/sign-up", dependencies=protected)
async def sign_up_submit(request: Request, session: Session = db_session) -> Response:
    form = dict(await request.form())
    next_path = safe_next(str(form.get("next") or HOME))
    token = str(form.get(FORM_TOKEN_FIELD) or "")
    gettext = formatter_of(request).gettext
    data, errors = validate(SignUp, form, gettext)
    if not errors and earlier_result(session, token) is not None:
        # The same form sent twice (a double tap): the account exists; the right password
        # signs this browser in to it instead of failing as a duplicate.
        address = request.client.host if request.client else "unknown"
        limiter = request.app.state.sign_in_limiter
        try:
            if not limiter.allowed(AUDIENCE, data.email, address):
                raise Problem(TOO_MANY, field="password", status=429)
            login = sign_in(
                session, SignIn(email=data.email, password=data.password), now=datetime.now(UTC)
            )
        except Problem as exc:
            limiter.failed(AUDIENCE, data.email, address)
            errors = errors_from_problem(exc, {"email", "password"}, gettext)
        else:
            return signed_in_response(request, session, login.member_id, WELCOME)
    elif not errors:
        try:
            member = sign_up(session, data, language=request.state.language, now=datetime.now(UTC))
        except Problem as exc:
            errors = errors_from_problem(exc, {"email", "password", "display_name"}, gettext)
        else:
            assert member.id is not None
            remember_result(
                session, token, audience=AUDIENCE, subject_id=member.id, result_path=WELCOME,
                now=datetime.now(UTC),
            )  # fmt: skip
            return signed_in_response(request, session, member.id, WELCOME)
    values = {k: v for k, v in form.items() if k in ("email", "display_name")}
    return _sign_up_page(request, values, errors, next_path)


@router.get("/sign-in")
def sign_in_page(
    request: Request, next: str | None = None, who: SignedIn | None = Depends(optional_member)
) -> Response:
    if who is not None:
        return RedirectResponse(safe_next(next), status_code=303)
    return render(
        request, "app/sign_in.html", {"values": {}, "errors": FormErrors(), "next": safe_next(next)}
    )


@router.post("/sign-in", dependencies=protected)
async def sign_in_submit(request: Request, session: Session = db_session) -> Response:
    form = dict(await request.form())
    next_path = safe_next(str(form.get("next") or HOME))
    email = str(form.get("email") or "")[:254]
    address = request.client.host if request.client else "unknown"
    limiter = request.app.state.sign_in_limiter
    data, errors = validate(SignIn, form, formatter_of(request).gettext)
    if not errors and not limiter.allowed(AUDIENCE, email, address):
        errors = FormErrors(status=429)
        errors.general = formatter_of(request).gettext(TOO_MANY)
    elif not errors:
        try:
            login = sign_in(session, data, now=datetime.now(UTC))
        except Problem as exc:
            limiter.failed(AUDIENCE, email, address)
            errors = errors_from_problem(exc, {"email", "password"}, formatter_of(request).gettext)
        else:
            return signed_in_response(request, session, login.member_id, next_path)
    response = render(
        request,
        "app/sign_in.html",
        {"values": {"email": email}, "errors": errors, "next": next_path},
        status=errors.status,
    )
    if errors.status == 429:
        response.headers["Retry-After"] = "60"
    return response


@router.post("/sign-out", dependencies=protected)
def sign_out(
    request: Request,
    session: Session = db_session,
    who: SignedIn | None = Depends(optional_member),
) -> Response:
    if who is not None:
        end_session(session, who.web_session, now=datetime.now(UTC))
    return _signed_out(request)


@router.post("/sign-out-everywhere", dependencies=protected)
def sign_out_everywhere(
    request: Request, session: Session = db_session, who: SignedIn = Depends(current_member)
) -> Response:
    end_every_session(session, audience=AUDIENCE, subject_id=who.member_id, now=datetime.now(UTC))
    return _signed_out(request)


def _signed_out(request: Request) -> Response:
    csrf.renew(request)
    response = RedirectResponse(SIGN_IN + "?signed_out=1", status_code=303)
    clear_session_cookie(
        response, audience=AUDIENCE, secure=request.app.state.settings.cookies_secure
    )
    return response


@router.post("/language", dependencies=protected)
def choose_language(
    request: Request,
    language: Annotated[str, Form(max_length=16)],
    next: Annotated[str, Form(max_length=500)] = HOME,
    session: Session = db_session,
    who: SignedIn | None = Depends(optional_member),
) -> Response:
    chosen = language if language in LANGUAGES else "en"
    if who is not None and who.login is not None:
        login = session.get(MemberLogin, who.member_id)
        assert login is not None
        login.locale = chosen
        session.flush()
    response = RedirectResponse(safe_next(next), status_code=303)
    response.set_cookie(
        LANGUAGE_COOKIE,
        chosen,
        max_age=365 * 86400,
        path="/",
        samesite="lax",
        httponly=True,
        secure=request.app.state.settings.cookies_secure,
    )
    return response
