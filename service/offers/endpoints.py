"""Offers: create drafts, edit within the rules, move through the lifecycle, list for members."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import Depends, Query, status
from sqlmodel import Session

from service.auth import Principal, Role, db_session, require
from service.members.service import member_in_scope
from service.merchants.common import MAX_ID, Id, Page, PageParams, page_of, page_params
from service.merchants.service import merchant_in_scope
from service.offers import repository as repo
from service.offers import service
from service.offers.schemas import (
    MemberOfferOut,
    OfferCreate,
    OfferOut,
    OfferStatus,
    OfferUpdate,
)
from service.problems import InvalidInput
from service.routing import make_router

router = make_router(tags=["offers"])

offer_editors = require(Role.MERCHANT)
# Publishers see offers only as members do (GET /v1/offers?member_id=): no commission,
# budget or reservations.
offer_readers = require(Role.MERCHANT, Role.FINANCE)
member_side = require(Role.MEMBER, Role.PUBLISHER)


@router.post(
    "/merchants/{merchant_id}/offers",
    status_code=status.HTTP_201_CREATED,
    summary="Create a draft offer for the merchant",
)
def create_offer(
    merchant_id: Id,
    body: OfferCreate,
    session: Session = db_session,
    principal: Principal = Depends(offer_editors),
) -> OfferOut:
    merchant = merchant_in_scope(session, principal, merchant_id)
    offer = service.create_offer(
        session, merchant, body, principal=principal, now=datetime.now(UTC)
    )
    return service.offer_out(session, offer)


@router.get("/merchants/{merchant_id}/offers", summary="List the merchant's offers")
def list_merchant_offers(
    merchant_id: Id,
    status_filter: Annotated[OfferStatus | None, Query(alias="status")] = None,
    page: PageParams = Depends(page_params),
    session: Session = db_session,
    principal: Principal = Depends(offer_readers),
) -> Page[OfferOut]:
    merchant_in_scope(session, principal, merchant_id)
    rows = repo.list_offers(
        session, merchant_id, status=status_filter, after_id=page.after_id, limit=page.limit + 1
    )
    result = page_of(rows, page.limit, lambda r: r)
    return Page[OfferOut](
        items=service.offers_out(session, result.items), next_cursor=result.next_cursor
    )


@router.get("/offers", summary="Offers a member can see and activate (holdout excluded)")
def list_member_offers(
    member_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
    page: PageParams = Depends(page_params),
    session: Session = db_session,
    principal: Principal = Depends(member_side),
) -> Page[MemberOfferOut]:
    if member_id is None:
        if principal.role is not Role.MEMBER:
            raise InvalidInput("member_id is required", field="member_id", reason="missing")
        member_id = principal.member_id
    assert member_id is not None
    member_in_scope(session, principal, member_id)
    items, cursor = service.member_offers(
        session, member_id, now=datetime.now(UTC), after_id=page.after_id, limit=page.limit
    )
    return Page[MemberOfferOut](items=items, next_cursor=cursor)


@router.get("/offers/{offer_id}", summary="Read an offer")
def get_offer(
    offer_id: Id,
    session: Session = db_session,
    principal: Principal = Depends(offer_readers),
) -> OfferOut:
    return service.offer_out(session, service.offer_in_scope(session, principal, offer_id))


@router.patch(
    "/offers/{offer_id}",
    summary="Edit an offer: drafts freely, published offers only in the member's favour",
)
def update_offer(
    offer_id: Id,
    body: OfferUpdate,
    session: Session = db_session,
    principal: Principal = Depends(offer_editors),
) -> OfferOut:
    offer = service.offer_in_scope(session, principal, offer_id)
    offer = service.update_offer(session, offer, body, principal=principal, now=datetime.now(UTC))
    return service.offer_out(session, offer)


def _transition(action: str):
    def endpoint(
        offer_id: Id,
        session: Session = db_session,
        principal: Principal = Depends(offer_editors),
    ) -> OfferOut:
        offer = service.offer_in_scope(session, principal, offer_id)
        offer = service.transition(session, offer, action, now=datetime.now(UTC))
        return service.offer_out(session, offer)

    endpoint.__name__ = f"{action}_offer"
    return endpoint


for _action, _summary in (
    ("publish", "Publish a draft: scheduled if it starts later, else live"),
    ("pause", "Pause a live or scheduled offer"),
    ("resume", "Resume a paused offer"),
    ("end", "End an offer for good"),
):
    router.add_api_route(
        f"/offers/{{offer_id}}/{_action}",
        _transition(_action),
        methods=["POST"],
        summary=_summary,
        response_model=OfferOut,
    )
