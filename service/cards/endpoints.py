"""Cards: registered by a trusted publisher, listed and unlinked by their member."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import Depends, Response, status
from sqlmodel import Session

from service.auth import Principal, Role, db_session, require
from service.cards import repository as repo
from service.cards import service
from service.cards.schemas import CardCreate, CardOut
from service.members.service import member_in_scope
from service.merchants.common import Id, Page, PageParams, page_of, page_params
from service.openapi_problems import REPEATED_200
from service.routing import make_router

router = make_router(prefix="/members/{member_id}/cards", tags=["cards"])

publishers = require(Role.PUBLISHER)
member_side = require(Role.MEMBER, Role.PUBLISHER)


def _out(card) -> CardOut:
    return CardOut.model_validate(card, from_attributes=True)


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    responses=REPEATED_200,
    summary="Register a card a publisher enrolled (token, fingerprint, brand, last4)",
)
def register_card(
    member_id: Id,
    body: CardCreate,
    response: Response,
    session: Session = db_session,
    principal: Principal = Depends(publishers),
) -> CardOut:
    member = member_in_scope(session, principal, member_id)
    card, created = service.register_card(
        session, member, body, provider="publisher", now=datetime.now(UTC)
    )
    if not created:
        response.status_code = status.HTTP_200_OK
    return _out(card)


@router.get("", summary="The member's cards, linked and unlinked")
def list_cards(
    member_id: Id,
    page: PageParams = Depends(page_params),
    session: Session = db_session,
    principal: Principal = Depends(member_side),
) -> Page[CardOut]:
    member_in_scope(session, principal, member_id)
    rows = repo.list_cards(session, member_id, after_id=page.after_id, limit=page.limit + 1)
    return page_of(rows, page.limit, _out)


@router.delete("/{card_id}", summary="Unlink a card: it stops matching, its history stays")
def unlink_card(
    member_id: Id,
    card_id: Id,
    session: Session = db_session,
    principal: Principal = Depends(member_side),
) -> CardOut:
    member = member_in_scope(session, principal, member_id)
    card = service.card_in_scope(session, member, card_id)
    return _out(service.unlink_card(session, card, now=datetime.now(UTC)))
