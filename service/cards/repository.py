"""Every query of the cards domain."""

from __future__ import annotations

from sqlmodel import Session, col, select

from service.tables import Card


def get_card(session: Session, member_id: int, card_id: int) -> Card | None:
    row = session.get(Card, card_id)
    return row if row is not None and row.member_id == member_id else None


def card_by_fingerprint(session: Session, fingerprint: str) -> Card | None:
    return session.exec(select(Card).where(Card.fingerprint == fingerprint)).first()


def card_by_token(session: Session, provider_token: str) -> Card | None:
    return session.exec(select(Card).where(Card.provider_token == provider_token)).first()


def list_cards(session: Session, member_id: int, *, after_id: int, limit: int) -> list[Card]:
    query = (
        select(Card)
        .where(Card.member_id == member_id, col(Card.id) > after_id)
        .order_by(col(Card.id))
        .limit(limit)
    )
    return list(session.exec(query))
