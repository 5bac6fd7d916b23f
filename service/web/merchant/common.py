"""What every merchant portal page shares: its role checks, its sections, its layout."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from sqlmodel import Session

from service.tables import Merchant
from service.web.i18n import N_
from service.web.staff.identity import Staff, signed_in, with_role
from service.web.templating import formatter_of, render

SIDE = "merchant"
TITLE = N_("Merchant portal")
# Any merchant user reads; only an owner changes offers, locations, keys and the team.
reader = signed_in(SIDE)
owner = with_role(SIDE, "owner")

NAV = [
    ("/merchant/offers", N_("Offers")),
    ("/merchant/performance", N_("Performance")),
    ("/merchant/locations", N_("Locations")),
    ("/merchant/statements", N_("Statements")),
    ("/merchant/claims", N_("Claims")),
    ("/merchant/names", N_("Card names")),
]
OWNER_NAV = [("/merchant/team", N_("Team and keys"))]


def merchant_of(session: Session, who: Staff) -> Merchant:
    merchant = session.get(Merchant, who.merchant_id)
    assert merchant is not None  # a staff user's merchant is a foreign key
    return merchant


def page(
    request: Request,
    session: Session,
    who: Staff,
    template: str,
    context: dict[str, Any] | None = None,
    status: int = 200,
) -> HTMLResponse:
    merchant = merchant_of(session, who)
    formatter_of(request).timezone = merchant.timezone  # dates on the merchant's clock
    values = {
        "who": who,
        "side": SIDE,
        "side_title": TITLE,
        "nav": NAV + OWNER_NAV if who.role == "owner" else NAV,
        "merchant": merchant,
        "is_owner": who.role == "owner",
        **(context or {}),
    }
    return render(request, template, values, status)
