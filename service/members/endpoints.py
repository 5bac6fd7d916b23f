"""Members: sign-up by a publisher, offer activation, balances and activity."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import Depends, Query, Response, status
from sqlmodel import Session

from service.auth import Principal, Role, db_session, require
from service.members import service
from service.members.schemas import (
    ActivationCreate,
    ActivationOut,
    ActivityItem,
    BalancesOut,
    MemberCreate,
    MemberCreated,
    MemberOut,
)
from service.merchants.common import (
    DEFAULT_PAGE_SIZE,
    MAX_BIG_ID,
    MAX_PAGE_SIZE,
    Id,
    Page,
    PageParams,
    page_params,
)
from service.openapi_problems import REPEATED_200
from service.routing import make_router

router = make_router(prefix="/members", tags=["members"])

publishers = require(Role.PUBLISHER)
member_side = require(Role.MEMBER, Role.PUBLISHER)
member_readers = require(Role.MEMBER, Role.PUBLISHER, Role.FINANCE)


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    summary="Sign up a member (publisher); returns a member token, shown once",
)
def create_member(
    body: MemberCreate,
    session: Session = db_session,
    principal: Principal = Depends(publishers),
) -> MemberCreated:
    return service.create_member(
        session, body, publisher_id=principal.publisher_id, now=datetime.now(UTC)
    )


@router.get("/{member_id}", summary="Read a member")
def get_member(
    member_id: Id,
    session: Session = db_session,
    principal: Principal = Depends(member_readers),
) -> MemberOut:
    return service.member_out(service.member_in_scope(session, principal, member_id))


@router.post(
    "/{member_id}/activations",
    status_code=status.HTTP_201_CREATED,
    responses=REPEATED_200,
    summary="Activate an offer; activating again returns the first activation (200)",
)
def activate_offer(
    member_id: Id,
    body: ActivationCreate,
    response: Response,
    session: Session = db_session,
    principal: Principal = Depends(member_side),
) -> ActivationOut:
    member = service.member_in_scope(session, principal, member_id)
    activation, created = service.activate(session, member, body.offer_id, now=datetime.now(UTC))
    if not created:
        response.status_code = status.HTTP_200_OK
    return activation


@router.get("/{member_id}/activations", summary="The member's activated offers")
def list_activations(
    member_id: Id,
    page: PageParams = Depends(page_params),
    session: Session = db_session,
    principal: Principal = Depends(member_side),
) -> Page[ActivationOut]:
    member = service.member_in_scope(session, principal, member_id)
    rows = service.list_activations(
        session, member, after_offer_id=page.after_id, limit=page.limit + 1
    )
    more = len(rows) > page.limit
    rows = rows[: page.limit]
    return Page[ActivationOut](items=rows, next_cursor=rows[-1].offer_id if more else None)


@router.get(
    "/{member_id}/balance", summary="Cashback pending, available and lifetime, per currency"
)
def get_balance(
    member_id: Id,
    session: Session = db_session,
    principal: Principal = Depends(member_readers),
) -> BalancesOut:
    return service.balances(session, service.member_in_scope(session, principal, member_id))


@router.get(
    "/{member_id}/activity",
    summary="Card events newest first, with reward state or the reason for none",
)
def get_activity(
    member_id: Id,
    before_id: Annotated[int | None, Query(ge=1, le=MAX_BIG_ID)] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)] = DEFAULT_PAGE_SIZE,
    session: Session = db_session,
    principal: Principal = Depends(member_readers),
) -> Page[ActivityItem]:
    member = service.member_in_scope(session, principal, member_id)
    items = service.activity(session, principal, member, before_id=before_id, limit=limit + 1)
    more = len(items) > limit
    items = items[:limit]
    return Page[ActivityItem](items=items, next_cursor=items[-1].event_id if more else None)
