"""Every query of the offers domain."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import delete, insert, or_
from sqlmodel import Session, col, select

from service.offers.catalog import MATCHABLE_STATUSES
from service.tables import Activation, Merchant, Offer, OfferLocation
from settlement.tables import OfferBudget


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


def open_offers(session: Session, *, now: datetime, after_id: int, limit: int) -> list[Offer]:
    """Scheduled and live offers whose window has not closed, by id."""
    query = (
        select(Offer)
        .where(
            col(Offer.status).in_(MATCHABLE_STATUSES),
            or_(col(Offer.ends_at).is_(None), col(Offer.ends_at) > now),
            col(Offer.id) > after_id,
        )
        .order_by(col(Offer.id))
        .limit(limit)
    )
    return list(session.exec(query))


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
