"""The offer feed: filter by category, search by merchant, one-tap Activate in place."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from fastapi.responses import RedirectResponse
from sqlmodel import Session

from service.auth import db_session
from service.members import service as members
from service.offers.repository import get_offer
from service.web import csrf
from service.web.app.identity import SignedIn, current_member
from service.web.app.offer_feed import CATEGORIES, build_feed, one_card
from service.web.templating import formatter_of, render

router = APIRouter(prefix="/app", include_in_schema=False)
OfferId = Annotated[int, Path(ge=1, le=2**31 - 1)]


@router.get("/offers")
def offers(
    request: Request,
    category: Annotated[str | None, Query(max_length=32)] = None,
    q: Annotated[str | None, Query(max_length=100)] = None,
    after: Annotated[int, Query(ge=0, le=2**31 - 1)] = 0,
    session: Session = db_session,
    who: SignedIn = Depends(current_member),
) -> Response:
    chosen = category if category in CATEGORIES else None
    feed = build_feed(
        session,
        who.member_id,
        formatter_of(request),
        now=datetime.now(UTC),
        category=chosen,
        search=q,
        after_id=after,
    )
    more = {"after": feed.more_after, "category": chosen or "", "q": q or ""}
    context = {
        "who": who,
        "feed": feed,
        "more_url": "/app/offers?" + urlencode({k: v for k, v in more.items() if v})
        if feed.more_after
        else None,
        "category": chosen,
        "q": q or "",
        "categories": CATEGORIES,
        "category_names": CATEGORIES,
    }
    target = request.headers.get("HX-Target") if request.headers.get("HX-Request") else None
    if target == "offer-results":
        return render(request, "app/_offer_results.html", context)
    if target == "more-offers":  # the next page of available offers, in place of its link
        return render(request, "app/_more_offers.html", context)
    return render(request, "app/offers.html", context)


@router.post("/offers/{offer_id}/activate", dependencies=[Depends(csrf.require_csrf)])
def activate(
    request: Request,
    offer_id: OfferId,
    session: Session = db_session,
    who: SignedIn = Depends(current_member),
) -> Response:
    now = datetime.now(UTC)
    # The same call as POST /v1/members/{id}/activations: an offer the member may not see
    # (held out, ended, unknown) is not found; activating twice keeps the first activation.
    members.activate(session, who.member, offer_id, now=now)
    if not request.headers.get("HX-Request"):
        return RedirectResponse(f"/app/offers#offer-{offer_id}", status_code=303)
    offer = get_offer(session, offer_id)
    assert offer is not None
    card = one_card(session, who.member_id, offer, True, formatter_of(request), now=now)
    return render(request, "app/_offer.html", {"offer": card, "category_names": CATEGORIES})
