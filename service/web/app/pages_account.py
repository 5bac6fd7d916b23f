"""The member's account page: who is signed in, language, sign out here or everywhere."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request, Response
from sqlmodel import Session

from service.auth import db_session
from service.web.app.identity import SignedIn, current_member
from service.web.app.passkeys import passkeys_of
from service.web.templating import render

router = APIRouter(prefix="/app", include_in_schema=False)


@router.get("/account")
def account(
    request: Request, session: Session = db_session, who: SignedIn = Depends(current_member)
) -> Response:
    found = passkeys_of(session, who.member_id)
    return render(request, "app/account.html", {"who": who, "passkeys": found})
