"""Merchants without MIDs: names and Plaid entity ids no brand resolved, for review.

A merchant user sees, and may claim, only entries that point at its own brand: the name (or
an entity id's example name) is its brand name, one of its aliases, or a name seen on card
events at its own locations; and the entries already mapped to it. Another merchant's
customers' purchases are never shown to it, nor can it claim them. Admins see everything.
Mapping an entry to the brand creates a
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
from service.feeds.service import pipeline_for
from service.linking_tables import UnresolvedMerchant
from service.merchants.common import Id, Page, PageParams, UtcDatetime, page_params
from service.merchants.service import merchant_in_scope
from service.plaid.rematch import rematch
from service.problems import Conflict, NotFound
from service.routing import make_router
from service.tables import BrandAlias, CardEventRow, Location, Merchant

router = make_router(tags=["merchant review"])
reviewers = require(Role.MERCHANT)
MAX_ALIASES = 10_000
MAX_EVENT_NAMES = 10_000  # distinct names on events at the merchant's locations
SCAN_CHUNK = 500
MAX_SCANNED_PER_PAGE = 20_000  # a page stops here; its cursor lets the caller go on


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


def names_of_merchant(session: Session, merchant_id: int) -> frozenset[str]:
    """Names and entity ids that point at the merchant: its brand name, its aliases, and the
    names on card events at its own locations (all in the form aliases compare in)."""
    merchant = session.get(Merchant, merchant_id)
    if merchant is None:
        return frozenset()
    names = {normalize_name(merchant.brand_name)}
    names.update(
        session.exec(
            select(BrandAlias.alias).where(BrandAlias.merchant_id == merchant_id).limit(MAX_ALIASES)
        )
    )
    mids = select(Location.mid).where(Location.merchant_id == merchant_id)
    seen = session.exec(
        select(CardEventRow.merchant_name)
        .where(col(CardEventRow.mid).in_(mids), col(CardEventRow.merchant_name).is_not(None))
        .distinct()
        .limit(MAX_EVENT_NAMES)
    )
    names.update(normalize_name(n) for n in seen if n)
    names.discard("")
    return frozenset(names)


def visible_to(row: UnresolvedMerchant, merchant_id: int, names: frozenset[str]) -> bool:
    if row.merchant_id == merchant_id:
        return True
    if row.status != "open":
        return False
    own = {row.value if row.kind == "entity_id" else normalize_name(row.value)}
    if row.example_name:
        own.add(normalize_name(row.example_name))
    return bool(own & names)


@router.get(
    "/unresolved-merchants",
    summary="Merchant names and Plaid entity ids on card events that no brand resolved",
)
def list_unresolved(
    status: Annotated[Literal["open", "mapped"], Query()] = "open",
    page: PageParams = Depends(page_params),
    session: Session = db_session,
    principal: Principal = Depends(reviewers),
) -> Page[UnresolvedMerchantOut]:
    merchant_id = principal.merchant_id if principal.role is Role.MERCHANT else None
    names = names_of_merchant(session, merchant_id) if merchant_id is not None else frozenset()
    items: list[UnresolvedMerchant] = []
    after, scanned = page.after_id, 0
    while len(items) <= page.limit and scanned < MAX_SCANNED_PER_PAGE:
        chunk = list(
            session.exec(
                select(UnresolvedMerchant)
                .where(UnresolvedMerchant.status == status, col(UnresolvedMerchant.id) > after)
                .order_by(col(UnresolvedMerchant.id))
                .limit(SCAN_CHUNK)
            )
        )
        for row in chunk:
            after, scanned = row.id or after, scanned + 1
            if merchant_id is None or visible_to(row, merchant_id, names):
                items.append(row)
                if len(items) > page.limit:
                    break
        if len(chunk) < SCAN_CHUNK:
            break
    if len(items) > page.limit:
        items = items[: page.limit]
        return Page[UnresolvedMerchantOut](items=[_out(r) for r in items], next_cursor=items[-1].id)
    more = scanned >= MAX_SCANNED_PER_PAGE
    return Page[UnresolvedMerchantOut](
        items=[_out(r) for r in items], next_cursor=after if more else None
    )


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
    assert merchant.id is not None
    # A merchant claims only what points at its own brand: anything else is not found.
    if (
        row is not None
        and principal.role is Role.MERCHANT
        and not visible_to(row, merchant.id, names_of_merchant(session, merchant.id))
    ):
        row = None
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
        catalog=pipeline_for(request.app).catalog,
    )
    return MappingOut(
        unresolved=_out(row),
        alias=alias,
        rematched_events=found.examined,
        rewarded_events=found.rewarded,
        reward_amount=found.reward_amount,
    )
