"""Passkey routes: add one on the account page, sign in with one on the sign-in page."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse
from sqlmodel import Session

from service.auth import db_session
from service.problems import InvalidInput, Problem
from service.web import csrf
from service.web.app import passkeys
from service.web.app.identity import AUDIENCE, SignedIn, current_member, safe_next
from service.web.app.pages_accounts import signed_in_response

router = APIRouter(prefix="/app/passkeys", include_in_schema=False)
protected = [Depends(csrf.require_csrf)]
COOKIE_PATH = "/app/passkeys"
MAX_CREDENTIAL_BYTES = 64_000


def _with_challenge(request: Request, body: dict, cookie: str) -> Response:
    response = JSONResponse(body)
    response.set_cookie(
        passkeys.CHALLENGE_COOKIE,
        cookie,
        max_age=passkeys.CHALLENGE_SECONDS,
        path=COOKIE_PATH,
        httponly=True,
        samesite="strict",
        secure=request.app.state.settings.cookies_secure,
    )
    return response


async def _json_body(request: Request) -> dict:
    raw = await request.body()
    if len(raw) > MAX_CREDENTIAL_BYTES:
        raise InvalidInput("the passkey response is too large", field="credential")
    try:
        body = json.loads(raw)
    except ValueError:
        raise InvalidInput("the passkey response is not JSON", field="credential") from None
    if not isinstance(body, dict) or not isinstance(body.get("credential"), dict):
        raise InvalidInput("a passkey response is required", field="credential")
    return body


def _problem(exc: Problem) -> Response:
    return JSONResponse({"detail": exc.detail, "field": exc.field}, status_code=exc.status)


@router.post("/register/options", dependencies=protected)
def register_options(
    request: Request, session: Session = db_session, who: SignedIn = Depends(current_member)
) -> Response:
    email = who.login.email if who.login else (who.member.email or f"member-{who.member_id}")
    options, cookie = passkeys.registration_options(
        session, request.app.state.settings, who.member, email
    )
    return _with_challenge(request, options, cookie)


@router.post("/register", dependencies=protected)
async def register(
    request: Request, session: Session = db_session, who: SignedIn = Depends(current_member)
) -> Response:
    try:
        body = await _json_body(request)
        passkeys.register(
            session,
            request.app.state.settings,
            who.member,
            body["credential"],
            request.cookies.get(passkeys.CHALLENGE_COOKIE),
            now=datetime.now(UTC),
        )
    except Problem as exc:
        return _problem(exc)
    response = JSONResponse({"redirect": "/app/account?passkey=added"})
    response.delete_cookie(passkeys.CHALLENGE_COOKIE, path=COOKIE_PATH)
    return response


@router.post("/sign-in/options", dependencies=protected)
def sign_in_options(request: Request) -> Response:
    options, cookie = passkeys.authentication_options(request.app.state.settings)
    return _with_challenge(request, options, cookie)


@router.post("/sign-in", dependencies=protected)
async def sign_in(request: Request, session: Session = db_session) -> Response:
    address = request.client.host if request.client else "unknown"
    limiter = request.app.state.sign_in_limiter
    if not limiter.allowed(AUDIENCE, "passkey", address):
        return JSONResponse({"detail": "Too many attempts. Wait a few minutes."}, status_code=429)
    try:
        body = await _json_body(request)
        passkey = passkeys.authenticate(
            session,
            request.app.state.settings,
            body["credential"],
            request.cookies.get(passkeys.CHALLENGE_COOKIE),
            now=datetime.now(UTC),
        )
    except Problem as exc:
        limiter.failed(AUDIENCE, "passkey", address)
        return _problem(exc)
    target = safe_next(body.get("next") if isinstance(body.get("next"), str) else None)
    redirect = signed_in_response(request, session, passkey.member_id, target)
    response = JSONResponse({"redirect": redirect.headers["location"]})
    for header, value in redirect.raw_headers:
        if header == b"set-cookie":
            response.raw_headers.append((header, value))
    response.delete_cookie(passkeys.CHALLENGE_COOKIE, path=COOKIE_PATH)
    return response
