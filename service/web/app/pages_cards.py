"""Linked cards: add one through Stripe's card form, link a bank through Plaid Link, unlink
with confirmation, and repair a bank link whose login expired (Link in update mode).

The card number goes from Stripe's form to Stripe; this server only ever sees the
SetupIntent id and then stores the card's brand, last4, expiry and fingerprint, through the
same services as the API's card-linking routes.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Path, Request, Response
from fastapi.responses import JSONResponse, RedirectResponse
from sqlmodel import Session, col, select

from service.auth import db_session
from service.cards import repository as card_repo
from service.cards import service as cards
from service.linking_tables import PlaidAccount
from service.plaid import repository as plaid_repo
from service.plaid import service as plaid
from service.plaid.endpoints import client_of
from service.plaid.sync import ACTIVE, sync_item
from service.problems import Problem
from service.stripe_linking import service as stripe_linking
from service.web import csrf
from service.web.app.identity import SignedIn, current_member
from service.web.templating import render

router = APIRouter(prefix="/app/cards", include_in_schema=False)
protected = [Depends(csrf.require_csrf)]
CardId = Annotated[int, Path(ge=1, le=2**31 - 1)]
MAX_CARDS_SHOWN = 50
SetupIntentId = Annotated[str, Form(min_length=5, max_length=64, pattern=r"^seti_[A-Za-z0-9]+$")]
PublicToken = Annotated[str, Form(min_length=1, max_length=200)]


def _page(
    request: Request,
    session: Session,
    who: SignedIn,
    *,
    error: str | None = None,
    status: int = 200,
) -> Response:
    settings = request.app.state.settings
    found = card_repo.list_cards(session, who.member_id, after_id=0, limit=MAX_CARDS_SHOWN)
    items = plaid.list_items(session, who.member, after_id=0, limit=MAX_CARDS_SHOWN)
    # A bank link is shown by the cards it brought (its institution id means nothing to a
    # member): "Bank link · cards ending 3333, 0000".
    last4_by_card = {c.id: c.last4 for c in found}
    item_cards: dict[int, list[str]] = {}
    if items:
        rows = session.exec(
            select(PlaidAccount).where(col(PlaidAccount.item_id).in_([i.id for i in items]))
        )
        for row in rows:
            item_cards.setdefault(row.item_id, []).append(last4_by_card.get(row.card_id, ""))
    context = {
        "who": who,
        "cards": [c for c in found if c.status == "active"],
        "items": items,
        "item_cards": item_cards,
        "error": error,
        "stripe_ready": bool(settings.stripe_publishable_key and settings.stripe_api_key),
        "plaid_ready": bool(settings.plaid_client_id and settings.plaid_secret),
    }
    return render(request, "app/cards.html", context, status=status)


@router.get("")
def cards_page(
    request: Request, session: Session = db_session, who: SignedIn = Depends(current_member)
) -> Response:
    return _page(request, session, who)


@router.post("/setup-intents", dependencies=protected)
def start_card_form(
    request: Request, session: Session = db_session, who: SignedIn = Depends(current_member)
) -> Response:
    """A SetupIntent for the card form (JSON for the page's script)."""
    client = stripe_linking.client_for(request.app.state.settings)
    found = stripe_linking.create_setup_intent(
        session, client, who.member, request_key=None, now=datetime.now(UTC)
    )
    return JSONResponse({"client_secret": found["client_secret"]})


@router.post("/setup-intents/confirm", dependencies=protected)
def finish_card_form(
    request: Request,
    setup_intent_id: SetupIntentId,
    session: Session = db_session,
    who: SignedIn = Depends(current_member),
) -> Response:
    client = stripe_linking.client_for(request.app.state.settings)
    try:
        card, _ = stripe_linking.confirm_setup_intent(
            session, client, who.member, setup_intent_id, now=datetime.now(UTC)
        )
    except Problem as exc:
        # Confirming twice finds the card already linked (created False), so a double
        # submit links one card; another member's card or intent is refused here.
        session.rollback()
        return _page(request, session, who, error=exc.detail, status=exc.status)
    return RedirectResponse(f"/app/cards?linked={card.last4}", status_code=303)


@router.get("/{card_id}/unlink")
def confirm_unlink(
    request: Request,
    card_id: CardId,
    session: Session = db_session,
    who: SignedIn = Depends(current_member),
) -> Response:
    card = cards.card_in_scope(session, who.member, card_id)
    return render(request, "app/unlink.html", {"who": who, "card": card})


@router.post("/{card_id}/unlink", dependencies=protected)
def unlink(
    card_id: CardId, session: Session = db_session, who: SignedIn = Depends(current_member)
) -> Response:
    card = cards.card_in_scope(session, who.member, card_id)
    cards.unlink_card(session, card, now=datetime.now(UTC))
    return RedirectResponse(f"/app/cards?unlinked={card.last4}", status_code=303)


@router.post("/plaid/link-token", dependencies=protected)
def plaid_link_token(
    request: Request,
    item_id: Annotated[int | None, Form(ge=1, le=2**31 - 1)] = None,
    session: Session = db_session,
    who: SignedIn = Depends(current_member),
) -> Response:
    """A Link token (JSON for the page's script); with item_id, Link opens in update mode."""
    found = plaid.create_link_token(
        session, client_of(request), request.app.state.settings, who.member, item_id=item_id
    )
    return JSONResponse({"link_token": found.link_token})


@router.post("/plaid/exchange", dependencies=protected)
def plaid_exchange(
    request: Request,
    public_token: PublicToken,
    session: Session = db_session,
    who: SignedIn = Depends(current_member),
) -> Response:
    try:
        linked, _ = plaid.exchange_public_token(
            session,
            client_of(request),
            request.app.state.settings,
            who.member,
            public_token,
            now=datetime.now(UTC),
        )
    except Problem as exc:
        session.rollback()
        return _page(request, session, who, error=exc.detail, status=exc.status)
    return RedirectResponse(f"/app/cards?bank={len(linked.cards)}", status_code=303)


@router.post("/plaid/{item_id}/repaired", dependencies=protected)
def plaid_repaired(
    request: Request,
    item_id: CardId,
    session: Session = db_session,
    who: SignedIn = Depends(current_member),
) -> Response:
    """After Link in update mode: the Item is active again and syncs what it missed (a
    sync that still fails marks it relink_required again)."""
    plaid.item_in_scope(session, who.member, item_id)  # another member's Item: 404
    now = datetime.now(UTC)
    plaid_repo.set_status(session.connection(), item_id, ACTIVE, None, now)
    # The sync below writes on its own connections: commit first, and touch no ORM object
    # afterwards (on SQLite that would begin a write transaction the sync then waits for).
    session.commit()
    sync_item(
        request.app.state.engine,
        client_of(request),
        item_id,
        now,
        settings=request.app.state.settings,
    )
    return RedirectResponse("/app/cards?repaired=1", status_code=303)
