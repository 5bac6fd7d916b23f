"""Missing-cashback claims: a member files and lists its own; the merchant lists the claims at
its brand and decides them; an admin sees and decides all."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import Depends, Header, Query, Request, Response, status
from sqlmodel import Session
from starlette.concurrency import run_in_threadpool

from service.auth import Principal, Role, db_session, require
from service.claims import repository as repo
from service.claims import service
from service.claims.limits import claim_limiter
from service.claims.receipts import read_limited
from service.claims.schemas import ClaimCreate, ClaimDecision, ClaimOut, ClaimStatus, ReceiptOut
from service.members.service import member_in_scope
from service.merchants.common import (
    IDEMPOTENCY_KEY_PATTERN,
    Id,
    Page,
    PageParams,
    page_params,
)
from service.openapi_problems import REPEATED_200
from service.routing import make_router

router = make_router(tags=["claims"])
member_side = require(Role.MEMBER, Role.PUBLISHER)
claim_readers = require(Role.MEMBER, Role.PUBLISHER, Role.MERCHANT)
deciders = require(Role.MERCHANT)
IdempotencyKey = Annotated[
    str,
    Header(alias="Idempotency-Key", min_length=1, max_length=64, pattern=IDEMPOTENCY_KEY_PATTERN),
]


def _page(session: Session, rows: list, limit: int) -> Page[ClaimOut]:
    more = len(rows) > limit
    rows = rows[:limit]
    return Page[ClaimOut](
        items=service.claims_out(session, rows), next_cursor=rows[-1].id if more else None
    )


@router.post(
    "/members/{member_id}/claims",
    status_code=status.HTTP_201_CREATED,
    responses=REPEATED_200,
    summary="File a missing-cashback claim (Idempotency-Key required)",
)
def file_claim(
    member_id: Id,
    body: ClaimCreate,
    request: Request,
    response: Response,
    idempotency_key: IdempotencyKey,
    session: Session = db_session,
    principal: Principal = Depends(member_side),
) -> ClaimOut:
    filed = service.file_claim(
        session,
        principal,
        member_id,
        body,
        idempotency_key,
        limiter=claim_limiter(request),
        now=datetime.now(UTC),
    )
    if filed.claim.status == "refused":
        # Kept with its reason (a refused input is never dropped), then answered as a problem.
        session.commit()
        raise service.refused_problem(filed.claim)
    if not filed.created:
        response.status_code = status.HTTP_200_OK
    return service.claims_out(session, [filed.claim])[0]


@router.get("/members/{member_id}/claims", summary="A member's claims, oldest first")
def list_member_claims(
    member_id: Id,
    page: PageParams = Depends(page_params),
    session: Session = db_session,
    principal: Principal = Depends(member_side),
) -> Page[ClaimOut]:
    member_in_scope(session, principal, member_id)
    rows = repo.list_claims(
        session, member_id=member_id, after_id=page.after_id, limit=page.limit + 1
    )
    return _page(session, rows, page.limit)


@router.get("/claims", summary="Claims at the merchant's brand (merchant) or all (admin)")
def list_claims(
    page: PageParams = Depends(page_params),
    claim_status: Annotated[ClaimStatus | None, Query(alias="status")] = None,
    session: Session = db_session,
    principal: Principal = Depends(deciders),
) -> Page[ClaimOut]:
    merchant_id = principal.merchant_id if principal.role is Role.MERCHANT else None
    rows = repo.list_claims(
        session,
        merchant_id=merchant_id,
        status=claim_status,
        after_id=page.after_id,
        limit=page.limit + 1,
    )
    return _page(session, rows, page.limit)


@router.get("/claims/{claim_id}", summary="Read a claim")
def get_claim(
    claim_id: Id,
    session: Session = db_session,
    principal: Principal = Depends(claim_readers),
) -> ClaimOut:
    return service.claims_out(session, [service.claim_in_scope(session, principal, claim_id)])[0]


@router.post(
    "/claims/{claim_id}/decision",
    responses=REPEATED_200,
    summary="Accept (books the reward) or decline (with a reason) a claim; once",
)
def decide_claim(
    claim_id: Id,
    body: ClaimDecision,
    session: Session = db_session,
    principal: Principal = Depends(deciders),
) -> ClaimOut:
    claim, _ = service.decide_claim(
        session,
        principal,
        claim_id,
        body,
        actor=service.api_actor(principal),
        now=datetime.now(UTC),
    )
    return service.claims_out(session, [claim])[0]


_BINARY = {"schema": {"type": "string", "format": "binary"}}


@router.put(
    "/claims/{claim_id}/receipt",
    summary="Attach the receipt: the raw JPEG, PNG or PDF bytes as the body, at most 5 MB",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {t: _BINARY for t in ("image/jpeg", "image/png", "application/pdf")},
        }
    },
)
async def put_receipt(
    claim_id: Id,
    request: Request,
    session: Session = db_session,
    principal: Principal = Depends(member_side),
) -> ReceiptOut:
    # The raw body (no model): the card-number scan is for text, and a receipt is a picture;
    # it is judged by its bytes and its size only.
    body = await read_limited(request.stream())
    return await run_in_threadpool(
        service.store_receipt, session, principal, claim_id, body, now=datetime.now(UTC)
    )


@router.get("/claims/{claim_id}/receipt", summary="Download the claim's receipt")
def get_receipt(
    claim_id: Id,
    session: Session = db_session,
    principal: Principal = Depends(claim_readers),
) -> Response:
    receipt = service.read_receipt(session, principal, claim_id)
    return Response(
        content=receipt.body,
        media_type=receipt.content_type,
        headers={"X-Content-Type-Options": "nosniff", "Content-Disposition": "attachment"},
    )
