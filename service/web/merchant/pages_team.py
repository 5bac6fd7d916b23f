"""Team and API keys (owners only): invite users with a role, remove them, issue and revoke
the merchant's API keys (a key is shown once; only its hash is stored)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request
from fastapi.responses import RedirectResponse
from sqlmodel import Session, col, select

from service.auth import Role, db_session
from service.merchants import service as merchants
from service.merchants.schemas import ApiKeyCreate
from service.problems import NotFound, Problem
from service.tables import ApiCredential
from service.web import csrf
from service.web.forms import FormErrors, errors_from_problem, validate
from service.web.merchant.common import SIDE, merchant_of, owner, page
from service.web.sessions import end_every_session
from service.web.staff.accounts import InviteIn, create_user, disable_user, team_of
from service.web.staff.identity import Staff
from service.web.templating import formatter_of

router = APIRouter(prefix="/merchant", include_in_schema=False)
protected = [Depends(csrf.require_csrf)]
Id = Annotated[int, Path(ge=1, le=2**31 - 1)]


def _keys(session: Session, merchant_id: int) -> list[ApiCredential]:
    query = (
        select(ApiCredential)
        .where(ApiCredential.merchant_id == merchant_id, ApiCredential.role == Role.MERCHANT.value)
        .order_by(col(ApiCredential.id))
    )
    return list(session.exec(query))


def _page(request, session, who, *, errors=None, values=None, shown=None, status=200):
    context = {
        "team": team_of(session, who.merchant_id),
        "keys": _keys(session, who.merchant_id),
        "errors": errors or FormErrors(),
        "values": values or {},
        "shown": shown,
    }
    return page(request, session, who, "merchant/team.html", context, status)


@router.get("/team")
def team(request: Request, session: Session = db_session, who: Staff = Depends(owner)):
    return _page(request, session, who)


@router.post("/team/invite", dependencies=protected)
async def invite(request: Request, session: Session = db_session, who: Staff = Depends(owner)):
    form = dict(await request.form())
    gettext = formatter_of(request).gettext
    data, errors = validate(InviteIn, form, gettext)
    if not errors:
        try:
            user, token = create_user(
                session, email=data.email, password=None, side=SIDE, role=data.role,
                merchant_id=who.merchant_id, display_name=data.display_name,
                invited_by_id=who.id, now=datetime.now(UTC),
            )  # fmt: skip
        except Problem as exc:
            session.rollback()
            errors = errors_from_problem(exc, {"email", "role", "display_name"}, gettext)
        else:
            link = f"{request.app.state.settings.web_origin}/merchant/welcome?token={token}"
            shown = {"kind": "invite", "email": user.email, "secret": link}
            return _page(request, session, who, shown=shown)
    values = {k: v for k, v in form.items() if k in ("email", "role", "display_name")}
    return _page(request, session, who, errors=errors, values=values, status=errors.status)


@router.post("/team/{user_id}/remove", dependencies=protected)
def remove(request: Request, user_id: Id, session: Session = db_session, who=Depends(owner)):
    now = datetime.now(UTC)
    try:
        user = disable_user(
            session, merchant_id=who.merchant_id, user_id=user_id, by=who.user, now=now
        )
    except Problem as exc:
        if exc.status == 404:
            raise
        session.rollback()
        errors = errors_from_problem(exc, set(), formatter_of(request).gettext)
        return _page(request, session, who, errors=errors, status=exc.status)
    end_every_session(session, audience=SIDE, subject_id=user_id, now=now)
    return RedirectResponse(f"/merchant/team?removed={user.id}", status_code=303)


@router.post("/keys", dependencies=protected)
async def issue_key(request: Request, session: Session = db_session, who=Depends(owner)):
    form = dict(await request.form())
    data, errors = validate(ApiKeyCreate, form, formatter_of(request).gettext)
    if errors:
        return _page(request, session, who, errors=errors, status=errors.status)
    out = merchants.issue_merchant_key(
        session, merchant_of(session, who), name=data.name, now=datetime.now(UTC)
    )
    shown = {"kind": "key", "name": data.name, "secret": out.token}
    response = _page(request, session, who, shown=shown)
    response.headers["Cache-Control"] = "no-store"
    return response


@router.post("/keys/{key_id}/revoke", dependencies=protected)
def revoke_key(key_id: Id, session: Session = db_session, who: Staff = Depends(owner)):
    row = session.get(ApiCredential, key_id)
    if row is None or row.merchant_id != who.merchant_id or row.role != Role.MERCHANT.value:
        raise NotFound("This key does not exist.", field="key_id")
    if row.revoked_at is None:
        row.revoked_at = datetime.now(UTC)
        session.flush()
    return RedirectResponse("/merchant/team?revoked=1", status_code=303)
