"""The member's account page: who is signed in, language, sign out here or everywhere."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request, Response

from service.web.app.identity import SignedIn, current_member
from service.web.templating import render

router = APIRouter(prefix="/app", include_in_schema=False)


@router.get("/account")
def account(request: Request, who: SignedIn = Depends(current_member)) -> Response:
    return render(request, "app/account.html", {"who": who})
