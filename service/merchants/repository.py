"""Every query of the merchants domain."""

from __future__ import annotations

from sqlmodel import Session, col, select

from service.tables import BrandAlias, Location, Merchant


def get_merchant(session: Session, merchant_id: int) -> Merchant | None:
    return session.get(Merchant, merchant_id)


def list_merchants(session: Session, *, after_id: int, limit: int) -> list[Merchant]:
    query = (
        select(Merchant).where(col(Merchant.id) > after_id).order_by(col(Merchant.id)).limit(limit)
    )
    return list(session.exec(query))


def get_location(session: Session, merchant_id: int, location_id: int) -> Location | None:
    row = session.get(Location, location_id)
    return row if row is not None and row.merchant_id == merchant_id else None


def location_by_mid(session: Session, mid: str) -> Location | None:
    return session.exec(select(Location).where(Location.mid == mid)).first()


def list_locations(
    session: Session, merchant_id: int, *, after_id: int, limit: int
) -> list[Location]:
    query = (
        select(Location)
        .where(Location.merchant_id == merchant_id, col(Location.id) > after_id)
        .order_by(col(Location.id))
        .limit(limit)
    )
    return list(session.exec(query))


def location_ids_of(session: Session, merchant_id: int, ids: set[int]) -> set[int]:
    """Which of `ids` are locations of the merchant."""
    if not ids:
        return set()
    query = select(Location.id).where(
        Location.merchant_id == merchant_id, col(Location.id).in_(ids)
    )
    # SQLModel types a primary key by its field, int | None; the column is NOT NULL.
    return set(session.exec(query))  # type: ignore[arg-type]


def alias_by_text(session: Session, alias: str) -> BrandAlias | None:
    return session.exec(select(BrandAlias).where(BrandAlias.alias == alias)).first()


def get_alias(session: Session, merchant_id: int, alias_id: int) -> BrandAlias | None:
    row = session.get(BrandAlias, alias_id)
    return row if row is not None and row.merchant_id == merchant_id else None


def list_aliases(
    session: Session, merchant_id: int, *, after_id: int, limit: int
) -> list[BrandAlias]:
    query = (
        select(BrandAlias)
        .where(BrandAlias.merchant_id == merchant_id, col(BrandAlias.id) > after_id)
        .order_by(col(BrandAlias.id))
        .limit(limit)
    )
    return list(session.exec(query))
