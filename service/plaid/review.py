"""Merchants without MIDs: names and Plaid entity ids no brand resolved, for review.

Merchant users (and admins) see the open list and map an entry to their own brand: a brand
alias is created (an entity id exactly as Plaid sends it, a name in the form the offer index
compares names in), and the stored events of the last `rematch_window_days` are matched
again (see `rematch`). Only merchant names and counts are shown: nothing about members.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Literal

from fastapi import Depends, Query, Request
from pydantic import BaseModel
from sqlmodel import Session, col, select

from matching.index import normalize_name
from service.auth import Principal, Role, db_session, require
from service.linking_tables import UnresolvedMerchant
from service.merchants.common import Id, Page, PageParams, UtcDatetime, page_of, page_params
from service.merchants.service import merchant_in_scope
from service.plaid.rematch import rematch
from service.problems import Conflict, NotFound
from service.routing import make_router
from service.tables import BrandAlias

router = make_router(tags=["merchant review"])
reviewers = require(Role.MERCHANT)


class UnresolvedMerchantOut(BaseModel):
    id: int
    kind: str  # entity_id | name
    value: str
    example_name: str | None
    event_count: int
    status: str  # open | mapped
    merchant_id: int | None
    first_seen_at: UtcDatetime
    last_seen_at: UtcDatetime


class MappingOut(BaseModel):
    unresolved: UnresolvedMerchantOut
    alias: str
    rematched_events: int
    rewarded_events: int
    reward_amount: int


def _out(row: UnresolvedMerchant) -> UnresolvedMerchantOut:
    return UnresolvedMerchantOut.model_validate(row, from_attributes=True)


@router.get(
    "/unresolved-merchants",
    summary="Merchant names and Plaid entity ids on card events that no brand resolved",
)
def list_unresolved(
    status: Annotated[Literal["open", "mapped"], Query()] = "open",
    page: PageParams = Depends(page_params),
    session: Session = db_session,
    _principal: Principal = Depends(reviewers),
) -> Page[UnresolvedMerchantOut]:
    query = (
        select(UnresolvedMerchant)
        .where(UnresolvedMerchant.status == status, col(UnresolvedMerchant.id) > page.after_id)
        .order_by(col(UnresolvedMerchant.id))
        .limit(page.limit + 1)
    )
    return page_of(list(session.exec(query)), page.limit, _out)


@router.post(
    "/merchants/{merchant_id}/unresolved-merchants/{unresolved_id}/map",
    summary="Claim a name or entity id for this brand: an alias, and recent events re-matched",
)
def map_unresolved(
    merchant_id: Id,
    unresolved_id: Id,
    request: Request,
    session: Session = db_session,
    principal: Principal = Depends(reviewers),
) -> MappingOut:
    merchant = merchant_in_scope(session, principal, merchant_id)
    now = datetime.now(UTC)
    row = session.get(UnresolvedMerchant, unresolved_id)
    if row is None:
        raise NotFound(f"unresolved merchant {unresolved_id} not found", field="unresolved_id")
    if row.status == "mapped" and row.merchant_id != merchant.id:
        raise Conflict(
            "already mapped to another brand", field="unresolved_id", reason="already_mapped"
        )
    alias = row.value if row.kind == "entity_id" else normalize_name(row.value)
    existing = session.exec(select(BrandAlias).where(BrandAlias.alias == alias)).first()
    if existing is not None and existing.merchant_id != merchant.id:
        raise Conflict(
            f"alias {alias!r} belongs to another merchant",
            field="unresolved_id",
            reason="alias_belongs_to_another_merchant",
        )
    assert merchant.id is not None
    if existing is None:
        session.add(BrandAlias(alias=alias, merchant_id=merchant.id))
    row.status, row.merchant_id, row.mapped_at = "mapped", merchant.id, now
    session.add(row)
    session.flush()
    settings = request.app.state.settings
    found = rematch(
        session.connection(),
        row.value,
        now,
        window_days=settings.rematch_window_days,
        auth_expiry_days=settings.auth_expiry_days,
    )
    return MappingOut(
        unresolved=_out(row),
        alias=alias,
        rematched_events=found.examined,
        rewarded_events=found.rewarded,
        reward_amount=found.reward_amount,
    )
