"""Missing-cashback claims: filing (members), deciding (the merchant or an admin), reading.

Every claim is loaded through the caller's scope: a member sees its own, a publisher its
members', a merchant the claims at its own brand, an admin all; anything else is not found.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlmodel import Session

from matching.offers import in_holdout
from service.auth import Principal, Role
from service.claims import repository as repo
from service.claims.booking import Booked, claim_offers
from service.claims.booking import book_claim as _book
from service.claims.limits import ClaimLimiter
from service.claims.receipts import check_receipt
from service.claims.schemas import ClaimCreate, ClaimDecision, ClaimOut, ReceiptOut
from service.claims.tables import Claim, ClaimReceipt
from service.feeds import context as ctx
from service.members.service import member_in_scope
from service.problems import Conflict, InvalidInput, NotFound
from service.tables import Member, Merchant
from settlement.ledger.accounts import AccountDirectory
from settlement.outbox import OutboxEventType, record_outbox_event

NO_OFFER_IN_WINDOW = "no_offer_in_window"
# A member files for a purchase made at most this long ago (the card feed's own horizon).
MAX_CLAIM_AGE_DAYS = 90


@dataclass(frozen=True, slots=True)
class Filed:
    claim: Claim
    created: bool


def refused_problem(claim: Claim) -> InvalidInput:
    return InvalidInput(
        "no offer of this merchant that you could earn was open on the purchase date",
        field="purchase_date",
        reason=claim.reason or NO_OFFER_IN_WINDOW,
        claim_id=claim.id,
    )


def _same_filing(claim: Claim, body: ClaimCreate, card_id: int | None) -> bool:
    return (
        claim.merchant_id == body.merchant_id
        and claim.purchase_date == body.purchase_date
        and claim.spend_amount == body.amount
        and claim.currency == body.currency
        and claim.card_id == card_id
        and claim.card_event_id == body.card_event_id
        and claim.note == body.note
    )


def _open_to_member(session: Session, claim: Claim, member: Member) -> bool:
    """Whether the member could have earned one of the merchant's offers on the claimed day:
    open that day, activated by then where activation is required, not held out."""
    conn = session.connection()
    offers = [
        (rules, at)
        for rules, at in claim_offers(conn, claim)
        if rules.currency == claim.currency
        and not (
            rules.holdout_bps and in_holdout(rules.offer_id, claim.member_id, rules.holdout_bps)
        )
    ]
    needing = {rules.offer_id for rules, _ in offers if rules.activation_required}
    activated = (
        ctx.load_activations(conn, {claim.member_id}, needing).get(claim.member_id, {})
        if needing
        else {}
    )
    for rules, at in offers:
        if not rules.activation_required:
            return True
        activated_at = activated.get(rules.offer_id)
        if activated_at is not None and activated_at <= at:
            return True
    return False


def file_claim(
    session: Session,
    principal: Principal,
    member_id: int,
    body: ClaimCreate,
    idempotency_key: str,
    *,
    limiter: ClaimLimiter,
    now: datetime,
) -> Filed:
    """File a claim; the same Idempotency-Key returns the first one (a different body under it
    is a 409). A claim no offer could have paid is kept as `refused` with its reason."""
    member = member_in_scope(session, principal, member_id)
    card = repo.member_card_by_last4(session, member_id, body.card_last4)
    existing = repo.claim_by_key(session, member_id, idempotency_key)
    if existing is not None:
        if not _same_filing(existing, body, card.id if card else None):
            raise Conflict(
                "this Idempotency-Key was used for another claim",
                field="Idempotency-Key",
                reason="idempotency_key_reused",
            )
        return Filed(existing, False)
    limiter.hit(member_id)
    if card is None:
        raise InvalidInput(
            f"none of your linked cards ends in {body.card_last4}",
            field="card_last4",
            reason="card_not_found",
        )
    today = now.astimezone(UTC).date()
    if body.purchase_date > today + timedelta(days=1):
        raise InvalidInput(
            "the purchase date is in the future", field="purchase_date", reason="in_future"
        )
    if body.purchase_date < today - timedelta(days=MAX_CLAIM_AGE_DAYS):
        raise InvalidInput(
            f"claims are taken for purchases of the last {MAX_CLAIM_AGE_DAYS} days",
            field="purchase_date",
            reason="too_old",
        )
    if session.get(Merchant, body.merchant_id) is None:
        raise NotFound(f"merchant {body.merchant_id} not found", field="merchant_id")
    if body.card_event_id is not None:
        event = repo.member_event(session, member_id, body.card_event_id)
        if event is None:
            raise NotFound(f"card event {body.card_event_id} not found", field="card_event_id")
        if event.outcome == "rewarded":
            raise InvalidInput(
                "this purchase already earned cashback",
                field="card_event_id",
                reason="already_rewarded",
            )
    claim = Claim(
        member_id=member_id,
        merchant_id=body.merchant_id,
        card_id=card.id,  # type: ignore[arg-type]
        card_event_id=body.card_event_id,
        purchase_date=body.purchase_date,
        spend_amount=body.amount,
        currency=body.currency,
        note=body.note,
        idempotency_key=idempotency_key,
        status="submitted",
        created_at=now,
    )
    if not _open_to_member(session, claim, member):
        claim.status, claim.reason = "refused", NO_OFFER_IN_WINDOW
    session.add(claim)
    session.flush()
    return Filed(claim, True)


def claim_in_scope(session: Session, principal: Principal, claim_id: int) -> Claim:
    claim = repo.get_claim(session, claim_id)
    if claim is None:
        raise NotFound(f"claim {claim_id} not found", field="claim_id")
    role = principal.role
    if role is Role.ADMIN or (role is Role.MERCHANT and claim.merchant_id == principal.merchant_id):
        return claim
    if role in (Role.MEMBER, Role.PUBLISHER):
        try:
            member_in_scope(session, principal, claim.member_id)
        except NotFound:
            pass
        else:
            return claim
    raise NotFound(f"claim {claim_id} not found", field="claim_id")


def api_actor(principal: Principal) -> str:
    """Who decided, as the settlement approvals' audit trail names a caller."""
    return f"credential:{principal.credential_id}"


def decide_claim(
    session: Session,
    principal: Principal,
    claim_id: int,
    body: ClaimDecision,
    *,
    actor: str,
    now: datetime,
) -> tuple[Claim, bool]:
    """Accept or decline a submitted claim, once. Accepting books the reward (or, when no
    offer can pay it, budget or cap exhausted, declines it with that reason); a repeated
    decision returns the first and changes nothing; the opposite decision is a 409."""
    if principal.role not in (Role.ADMIN, Role.MERCHANT):
        raise NotFound(f"claim {claim_id} not found", field="claim_id")
    claim = claim_in_scope(session, principal, claim_id)
    if body.decision == "decline" and not body.reason:
        raise InvalidInput(
            "say why the claim is declined: the member sees it",
            field="reason",
            reason="required",
        )
    wanted = "accepted" if body.decision == "accept" else "declined"
    conn = session.connection()
    session.flush()
    if not repo.take_for_decision(conn, claim_id, status=wanted, now=now):
        session.refresh(claim)
        if claim.status == "refused":
            raise Conflict("a refused claim cannot be decided", field="claim_id", reason="refused")
        # Accepting twice is one acceptance; accepting a claim that no offer could pay
        # declined it, and asking again says so rather than booking.
        if wanted == "accepted" or claim.status == wanted:
            return claim, False
        raise Conflict(
            f"the claim was already {claim.status}", field="decision", reason="already_decided"
        )
    session.refresh(claim)
    claim.decided_by = actor
    claim.decision_note = body.reason
    if wanted == "accepted":
        outcome = _book(conn, claim, now=now, directory=AccountDirectory())
        if isinstance(outcome, Booked):
            claim.reason = "accepted"
            claim.offer_id = outcome.offer_id
            claim.reward_id = outcome.reward_id
            claim.reward_amount = outcome.reward_amount
        else:
            claim.status, claim.reason, claim.offer_id = (
                "declined",
                outcome.reason,
                outcome.offer_id,
            )
    else:
        claim.reason = "declined"
    session.add(claim)
    session.flush()
    record_outbox_event(
        conn,
        OutboxEventType.CLAIM_DECIDED,
        occurred_at=now,
        now=now,
        member_id=claim.member_id,
        merchant_id=claim.merchant_id,
        offer_id=claim.offer_id,
        reward_id=claim.reward_id,
        amount_minor=claim.reward_amount,
        currency=claim.currency,
        data={"claim_id": claim.id, "status": claim.status, "reason": claim.reason},
    )
    return claim, True


def store_receipt(
    session: Session, principal: Principal, claim_id: int, body: bytes, *, now: datetime
) -> ReceiptOut:
    """Attach (or replace, while the claim waits) the claim's receipt, checked by content."""
    claim = claim_in_scope(session, principal, claim_id)
    if principal.role not in (Role.MEMBER, Role.PUBLISHER, Role.ADMIN):
        raise NotFound(f"claim {claim_id} not found", field="claim_id")
    content_type = check_receipt(body)
    if claim.status != "submitted":
        raise Conflict(
            f"the claim is {claim.status}; its receipt can no longer change",
            field="claim_id",
            reason="already_decided",
        )
    digest = hashlib.sha256(body).hexdigest()
    receipt = session.get(ClaimReceipt, claim_id)
    if receipt is None:
        receipt = ClaimReceipt(
            claim_id=claim_id,
            content_type=content_type,
            size_bytes=len(body),
            sha256=digest,
            body=body,
            uploaded_at=now,
        )
    else:
        receipt.content_type, receipt.size_bytes, receipt.sha256 = content_type, len(body), digest
        receipt.body, receipt.uploaded_at = body, now
    session.add(receipt)
    session.flush()
    return ReceiptOut(
        claim_id=claim_id,
        content_type=content_type,
        size_bytes=len(body),
        sha256=receipt.sha256,
        uploaded_at=now,
    )


def read_receipt(session: Session, principal: Principal, claim_id: int) -> ClaimReceipt:
    claim_in_scope(session, principal, claim_id)
    receipt = session.get(ClaimReceipt, claim_id)
    if receipt is None:
        raise NotFound(f"claim {claim_id} has no receipt", field="receipt", reason="no_receipt")
    return receipt


def claims_out(session: Session, claims: list[Claim]) -> list[ClaimOut]:
    names = repo.merchant_names(session, (c.merchant_id for c in claims))
    last4s = repo.card_last4s(session, (c.card_id for c in claims))
    receipts = repo.receipt_types(session, (c.id for c in claims if c.id is not None))
    return [
        ClaimOut(
            id=c.id,  # type: ignore[arg-type]
            member_id=c.member_id,
            merchant_id=c.merchant_id,
            merchant_name=names.get(c.merchant_id, ""),
            card_last4=last4s.get(c.card_id, ""),
            card_event_id=c.card_event_id,
            purchase_date=c.purchase_date,
            amount=c.spend_amount,
            currency=c.currency,
            note=c.note,
            status=c.status,  # type: ignore[arg-type]
            reason=c.reason,
            decision_note=c.decision_note,
            decided_at=c.decided_at,
            offer_id=c.offer_id,
            reward_id=c.reward_id,
            reward_amount=c.reward_amount,
            matched_event_id=c.matched_event_id,
            has_receipt=c.id in receipts,
            receipt_content_type=receipts.get(c.id),  # type: ignore[arg-type]
            created_at=c.created_at,
        )
        for c in claims
    ]
