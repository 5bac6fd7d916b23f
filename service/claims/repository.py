"""Every query of missing-cashback claims."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import Connection, bindparam, text, update
from sqlalchemy import select as core_select
from sqlmodel import Session, col, select

from matching.claims import AcceptedClaim
from service.claims.tables import OPEN_CLAIM, Claim, ClaimReceipt
from service.tables import Card, CardEventRow, Merchant, Offer
from settlement.ledger.bulk import execute_many, one_of

_claims = Claim.__table__
_CHUNK = 5000
# Offers a claimed purchase may have earned: any that was ever matchable (a claim is about
# the past, so an offer paused or ended since still counts for a day inside its window).
CLAIMABLE_OFFER_STATUSES = ("live", "paused", "ended")


def claim_by_key(session: Session, member_id: int, idempotency_key: str) -> Claim | None:
    return session.exec(
        select(Claim).where(Claim.member_id == member_id, Claim.idempotency_key == idempotency_key)
    ).first()


def get_claim(session: Session, claim_id: int) -> Claim | None:
    return session.get(Claim, claim_id)


def list_claims(
    session: Session,
    *,
    member_id: int | None = None,
    merchant_id: int | None = None,
    status: str | None = None,
    after_id: int,
    limit: int,
) -> list[Claim]:
    query = select(Claim).where(col(Claim.id) > after_id)
    if member_id is not None:
        query = query.where(Claim.member_id == member_id)
    if merchant_id is not None:
        query = query.where(Claim.merchant_id == merchant_id)
    if status is not None:
        query = query.where(Claim.status == status)
    return list(session.exec(query.order_by(col(Claim.id)).limit(limit)).all())


def member_card_by_last4(session: Session, member_id: int, last4: str) -> Card | None:
    """The member's own card with these last four digits (an active one first)."""
    cards = session.exec(select(Card).where(Card.member_id == member_id, Card.last4 == last4)).all()
    return sorted(cards, key=lambda c: (c.status != "active", c.id))[0] if cards else None


def member_event(session: Session, member_id: int, event_id: int) -> CardEventRow | None:
    event = session.get(CardEventRow, event_id)
    return event if event is not None and event.member_id == member_id else None


def claimable_offers(session: Session, merchant_id: int) -> list[Offer]:
    return list(
        session.exec(
            select(Offer).where(
                Offer.merchant_id == merchant_id,
                col(Offer.status).in_(CLAIMABLE_OFFER_STATUSES),
            )
        ).all()
    )


def claimable_offer_ids(conn: Connection, merchant_id: int) -> list[int]:
    offers = Offer.__table__
    return list(
        conn.execute(
            core_select(offers.c.id)
            .where(
                offers.c.merchant_id == merchant_id,
                offers.c.status.in_(CLAIMABLE_OFFER_STATUSES),
            )
            .order_by(offers.c.id)
        ).scalars()
    )


def merchant_names(session: Session, merchant_ids: Iterable[int]) -> dict[int, str]:
    ids = sorted(set(merchant_ids))
    if not ids:
        return {}
    rows = session.exec(
        select(Merchant.id, Merchant.brand_name).where(col(Merchant.id).in_(ids))
    ).all()
    return {i: name for i, name in rows if i is not None}


def card_last4s(session: Session, card_ids: Iterable[int]) -> dict[int, str]:
    ids = sorted(set(card_ids))
    if not ids:
        return {}
    rows = session.exec(select(Card.id, Card.last4).where(col(Card.id).in_(ids))).all()
    return {i: last4 for i, last4 in rows if i is not None}


def receipt_types(session: Session, claim_ids: Iterable[int]) -> dict[int, str]:
    ids = sorted(set(claim_ids))
    if not ids:
        return {}
    rows = session.exec(
        select(ClaimReceipt.claim_id, ClaimReceipt.content_type).where(
            col(ClaimReceipt.claim_id).in_(ids)
        )
    ).all()
    return {i: t for i, t in rows}


def take_for_decision(conn: Connection, claim_id: int, *, status: str, now: datetime) -> bool:
    """Move a submitted claim to `status` at once, or say that another decision came first.
    The conditional update is the lock: a second accept of the same claim (a retry, a double
    click, a concurrent request) changes no row and books nothing."""
    result = conn.execute(
        update(_claims)
        .where(_claims.c.id == claim_id, _claims.c.status == "submitted")
        .values(status=status, decided_at=now)
    )
    return result.rowcount == 1


# -- the feed's decide stage -------------------------------------------------------------------
def load_open_claims(
    conn: Connection, member_ids: Iterable[int]
) -> dict[int, tuple[AcceptedClaim, ...]]:
    """member -> accepted claims no card event has been matched to yet."""
    out: dict[int, list[AcceptedClaim]] = {}
    # Open claims are rare: one probe of the partial index (its own terms, so both planners
    # use it) spares a feed batch the look-up by its thousands of members when there are none.
    if conn.execute(core_select(_claims.c.id).where(text(OPEN_CLAIM)).limit(1)).first() is None:
        return {}
    ids = sorted(set(member_ids))
    for start in range(0, len(ids), _CHUNK):
        for row in conn.execute(
            core_select(
                _claims.c.id,
                _claims.c.member_id,
                _claims.c.merchant_id,
                _claims.c.spend_amount,
                _claims.c.currency,
                _claims.c.purchase_date,
            ).where(
                one_of(conn, _claims.c.member_id, ids[start : start + _CHUNK]),
                _claims.c.status == "accepted",
                _claims.c.matched_event_id.is_(None),
            )
        ):
            out.setdefault(row.member_id, []).append(AcceptedClaim(*row))
    return {member: tuple(found) for member, found in out.items()}


def mark_matched(conn: Connection, matched: dict[int, int]) -> None:
    """claim id -> the card event found to be its purchase."""
    if not matched:
        return
    execute_many(
        conn,
        update(_claims)
        .where(_claims.c.id == bindparam("c_id"), _claims.c.matched_event_id.is_(None))
        .values(matched_event_id=bindparam("c_event")),
        [{"c_id": c, "c_event": e} for c, e in sorted(matched.items())],
    )


def claimable_merchants(session: Session, *, limit: int = 500) -> list[tuple[int, str]]:
    """(id, brand name) of the merchants with an offer a purchase could be claimed under."""
    rows = session.exec(
        select(Merchant.id, Merchant.brand_name)
        .where(
            col(Merchant.id).in_(
                select(Offer.merchant_id).where(col(Offer.status).in_(CLAIMABLE_OFFER_STATUSES))
            )
        )
        .order_by(col(Merchant.brand_name))
        .limit(limit)
    ).all()
    return [(i, name) for i, name in rows if i is not None]


def member_cards(session: Session, member_id: int) -> list[Card]:
    return list(
        session.exec(
            select(Card)
            .where(Card.member_id == member_id, Card.status == "active")
            .order_by(col(Card.id))
        ).all()
    )
