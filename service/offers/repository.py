"""Every query of the offers domain."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, insert, or_
from sqlmodel import Session, col, select
from sqlmodel.sql.expression import SelectOfScalar

from service.offers.catalog import MATCHABLE_STATUSES
from service.tables import Activation, MemberOfferState, Merchant, Offer, OfferLocation
from settlement.tables import OfferBudget


@dataclass(frozen=True)
class OfferFilter:
    """What a member narrowed the offer feed to: a merchant category, words of a merchant's
    name or an offer's title (case-insensitive)."""

    category: str | None = None
    search: str | None = None


def get_offer(session: Session, offer_id: int) -> Offer | None:
    return session.get(Offer, offer_id)


def list_offers(
    session: Session, merchant_id: int, *, status: str | None, after_id: int, limit: int
) -> list[Offer]:
    query = select(Offer).where(Offer.merchant_id == merchant_id, col(Offer.id) > after_id)
    if status is not None:
        query = query.where(Offer.status == status)
    return list(session.exec(query.order_by(col(Offer.id)).limit(limit)))


def location_ids_by_offer(session: Session, offer_ids: Iterable[int]) -> dict[int, list[int]]:
    ids = sorted(set(offer_ids))
    out: dict[int, list[int]] = {i: [] for i in ids}
    if not ids:
        return out
    query = (
        select(OfferLocation.offer_id, OfferLocation.location_id)
        .where(col(OfferLocation.offer_id).in_(ids))
        .order_by(col(OfferLocation.offer_id), col(OfferLocation.location_id))
    )
    for offer_id, location_id in session.exec(query):
        out[offer_id].append(location_id)
    return out


def replace_locations(session: Session, offer_id: int, location_ids: Iterable[int]) -> None:
    conn = session.connection()
    table = OfferLocation.__table__
    conn.execute(delete(table).where(table.c.offer_id == offer_id))
    rows = [{"offer_id": offer_id, "location_id": i} for i in sorted(set(location_ids))]
    if rows:
        conn.execute(insert(table), rows)


def budget_usage(session: Session, offer_ids: Iterable[int]) -> dict[int, tuple[int, int]]:
    """(reserved_amount, redemption_count) per offer."""
    ids = sorted(set(offer_ids))
    if not ids:
        return {}
    query = select(
        OfferBudget.offer_id, OfferBudget.reserved_amount, OfferBudget.redemption_count
    ).where(col(OfferBudget.offer_id).in_(ids))
    return {offer_id: (amount, count) for offer_id, amount, count in session.exec(query)}


def _open(now: datetime, within: OfferFilter | None = None) -> SelectOfScalar[Offer]:
    """Scheduled and live offers whose window has not closed, narrowed to the filter."""
    query = select(Offer).where(
        col(Offer.status).in_(MATCHABLE_STATUSES),
        or_(col(Offer.ends_at).is_(None), col(Offer.ends_at) > now),
    )
    if within is None or (within.category is None and not within.search):
        return query
    query = query.join(Merchant, col(Merchant.id) == Offer.merchant_id)
    if within.category is not None:
        query = query.where(Merchant.category == within.category)
    if within.search:
        query = query.where(
            or_(
                col(Merchant.brand_name).icontains(within.search, autoescape=True),
                col(Offer.title).icontains(within.search, autoescape=True),
            )
        )
    return query


def open_offers(
    session: Session,
    *,
    now: datetime,
    after_id: int,
    limit: int,
    within: OfferFilter | None = None,
) -> list[Offer]:
    """Open offers by id, a page after `after_id`."""
    query = _open(now, within).where(col(Offer.id) > after_id)
    return list(session.exec(query.order_by(col(Offer.id)).limit(limit)))


def open_offers_ending(
    session: Session, *, now: datetime, before: datetime, limit: int, within: OfferFilter
) -> list[Offer]:
    """Open offers whose window closes before `before`, the soonest first."""
    # Both bounds on the column itself: an index range that skips the offers already ended.
    query = _open(now, within).where(col(Offer.ends_at) > now, col(Offer.ends_at) <= before)
    return list(session.exec(query.order_by(col(Offer.ends_at), col(Offer.id)).limit(limit)))


def open_offers_of(
    session: Session, offer_ids: Iterable[int], *, now: datetime, within: OfferFilter
) -> list[Offer]:
    """The open offers among `offer_ids`, by id."""
    ids = sorted(set(offer_ids))
    if not ids:
        return []
    query = _open(now, within).where(col(Offer.id).in_(ids))
    return list(session.exec(query.order_by(col(Offer.id))))


def member_activated_offer_ids(session: Session, member_id: int) -> set[int]:
    """Every offer the member has activated (the key's member-first prefix)."""
    return set(session.exec(select(Activation.offer_id).where(Activation.member_id == member_id)))


def member_progress(session: Session, member_id: int) -> dict[int, MemberOfferState]:
    """The member's counters that show progress: stamps collected, spend toward a goal."""
    query = select(MemberOfferState).where(
        MemberOfferState.member_id == member_id,
        or_(
            col(MemberOfferState.stamp_count) > 0,
            col(MemberOfferState.threshold_spend_amount) > 0,
        ),
    )
    return {state.offer_id: state for state in session.exec(query)}


def merchant_names(session: Session, merchant_ids: Iterable[int]) -> dict[int, str]:
    ids = sorted(set(merchant_ids))
    if not ids:
        return {}
    query = select(Merchant.id, Merchant.brand_name).where(col(Merchant.id).in_(ids))
    # SQLModel types a primary key by its field, int | None; the column is NOT NULL.
    return dict(session.exec(query).all())  # type: ignore[arg-type]


def activated_offer_ids(session: Session, member_id: int, offer_ids: Iterable[int]) -> set[int]:
    ids = sorted(set(offer_ids))
    if not ids:
        return set()
    query = select(Activation.offer_id).where(
        Activation.member_id == member_id, col(Activation.offer_id).in_(ids)
    )
    return set(session.exec(query))
