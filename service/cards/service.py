"""Registering and unlinking cards: one card (fingerprint) belongs to one member."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session

from service.cards import repository as repo
from service.cards.schemas import CardCreate
from service.merchants.common import add_unique
from service.problems import Conflict, NotFound
from service.tables import Card, Member
from settlement.outbox import OutboxEventType, record_outbox_event

ACTIVE = "active"
UNLINKED = "unlinked"


def _tell_linked(session: Session, card: Card, now: datetime) -> None:
    """card.linked in the linking transaction: the card's id, provider and brand, never its
    number or last four digits."""
    record_outbox_event(
        session.connection(),
        OutboxEventType.CARD_LINKED,
        occurred_at=now,
        now=now,
        member_id=card.member_id,
        data={"card_id": card.id, "provider": card.provider, "brand": card.brand},
    )


def register_card(
    session: Session, member: Member, data: CardCreate, *, provider: str, now: datetime
) -> tuple[Card, bool]:
    """The card and whether it was created.

    The same card for the same member again returns the first registration; a card another
    member holds is a conflict (one card, one member), as is a token reused for another card.
    Registering an unlinked card again links it again.
    """
    assert member.id is not None
    existing = repo.card_by_fingerprint(session, data.fingerprint)
    if existing is None:
        if repo.card_by_token(session, data.provider_token) is not None:
            raise Conflict(
                "provider_token is already registered for another card",
                field="provider_token",
                reason="duplicate",
            )
        card = Card(
            member_id=member.id,
            provider=provider,
            status=ACTIVE,
            created_at=now,
            **data.model_dump(),
        )
        try:
            add_unique(
                session, card, field="fingerprint", detail="this card is already linked to a member"
            )
            _tell_linked(session, card, now)
            return card, True
        except Conflict:
            # A concurrent registration of the same card won: judge against that one.
            existing = repo.card_by_fingerprint(session, data.fingerprint)
            if existing is None:
                raise
    if existing.member_id != member.id:
        raise Conflict(
            "this card is already linked to another member",
            field="fingerprint",
            reason="card_belongs_to_another_member",
        )
    if existing.status != ACTIVE:
        existing.status, existing.unlinked_at = ACTIVE, None
        session.add(existing)
        session.flush()
        _tell_linked(session, existing, now)
    return existing, False


def card_in_scope(session: Session, member: Member, card_id: int) -> Card:
    assert member.id is not None
    card = repo.get_card(session, member.id, card_id)
    if card is None:
        raise NotFound(f"card {card_id} not found", field="card_id")
    return card


def unlink_card(session: Session, card: Card, *, now: datetime) -> Card:
    """The card stops matching from now on; its events and rewards stay."""
    if card.status != UNLINKED:
        card.status, card.unlinked_at = UNLINKED, now
        session.add(card)
        session.flush()
    return card
