"""Every query of the card events domain."""

from __future__ import annotations

from collections.abc import Iterable

from sqlmodel import Session, col, select

from service.tables import CardEventRow, Member, Offer


def get_event(session: Session, event_id: int) -> CardEventRow | None:
    return session.get(CardEventRow, event_id)


def offers_by_id(session: Session, offer_ids: Iterable[int]) -> dict[int, tuple[str, int]]:
    """(title, merchant_id) per offer."""
    ids = sorted(set(offer_ids))
    if not ids:
        return {}
    query = select(Offer.id, Offer.title, Offer.merchant_id).where(col(Offer.id).in_(ids))
    rows = session.exec(query)
    # SQLModel types a primary key by its field, int | None; the column is NOT NULL.
    return {offer_id: (title, merchant_id) for offer_id, title, merchant_id in rows}  # type: ignore[misc]


def member_of_publisher(session: Session, member_id: int, publisher_id: int | None) -> bool:
    if publisher_id is None:
        return False
    member = session.get(Member, member_id)
    return member is not None and member.publisher_id == publisher_id
