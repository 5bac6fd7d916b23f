"""Pages not built yet (offers, wallet, activity, cards)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request, Response

from service.web.app.identity import SignedIn, current_member
from service.web.templating import render

router = APIRouter(prefix="/app", include_in_schema=False)

for _path, _heading in (
    ("offers", "Offers"),
    ("wallet", "Wallet"),
    ("activity", "Activity"),
    ("cards", "Cards"),
):

    def _page(
        request: Request, who: SignedIn = Depends(current_member), heading: str = _heading
    ) -> Response:
        return render(request, "app/placeholder.html", {"who": who, "heading": heading})

    router.add_api_route(f"/{_path}", _page, methods=["GET"])
