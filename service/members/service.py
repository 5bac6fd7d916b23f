"""Members, their tokens, offer activations, balances and activity."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session

from service.auth import Principal, Role, issue_credential
from service.events.service import member_facing, parse_decisions
from service.members import repository as repo
from service.members.schemas import (
    ActivationOut,
    ActivityItem,
    BalanceOut,
    BalancesOut,
    MemberCreate,
    MemberCreated,
    MemberOut,
    RewardSummary,
)
from service.merchants.common import add_unique
from service.offers import repository as offer_repo
from service.offers.catalog import aware
from service.offers.service import visible_to_member
from service.problems import Conflict, NotFound
from service.tables import Activation, Member
from settlement.balances import member_balances


def member_in_scope(session: Session, principal: Principal, member_id: int) -> Member:
    """The member, if the caller may see it: a member token sees only its own member, a
    publisher only the members it signed up.

    Merchants never see members; another party's member is not found, not forbidden, so ids
    cannot be enumerated.
    """
    if principal.role is Role.MEMBER and principal.member_id != member_id:
        raise NotFound(f"member {member_id} not found", field="member_id")
    member = repo.get_member(session, member_id) if principal.role is not Role.MERCHANT else None
    if member is None or (
        principal.role is Role.PUBLISHER
        and (principal.publisher_id is None or member.publisher_id != principal.publisher_id)
    ):
        raise NotFound(f"member {member_id} not found", field="member_id")
    return member


def member_out(member: Member) -> MemberOut:
    return MemberOut.model_validate(member, from_attributes=True)


def create_member(
    session: Session, data: MemberCreate, *, publisher_id: int | None, now: datetime
) -> MemberCreated:
    """A new member of the publisher, and a token scoped to it (shown once; only its hash is
    stored)."""
    detail = f"a member with external_ref {data.external_ref!r} already exists"
    if data.external_ref is not None and repo.member_by_external_ref(session, data.external_ref):
        raise Conflict(detail, field="external_ref", reason="duplicate")
    member = Member(**data.model_dump(), publisher_id=publisher_id, created_at=now)
    add_unique(session, member, field="external_ref", detail=detail)
    session.flush()
    assert member.id is not None
    token = issue_credential(
        session, role=Role.MEMBER, now=now, name=f"member {member.id}", member_id=member.id
    )
    return MemberCreated(member=member_out(member), token=token)


def activate(
    session: Session, member: Member, offer_id: int, *, now: datetime
) -> tuple[ActivationOut, bool]:
    """Activate an offer for the member; activating again returns the first activation.

    Only open offers the member can see may be activated, as `GET /v1/offers` lists them: not
    past their end, and a held-out member never learns the offer exists, so for them it is
    not found.
    """
    assert member.id is not None
    offer = offer_repo.get_offer(session, offer_id)
    ended = offer is not None and offer.ends_at is not None and aware(offer.ends_at) <= now
    if offer is None or ended or not visible_to_member(offer, member.id):
        raise NotFound(f"offer {offer_id} not found", field="offer_id")
    existing = repo.get_activation(session, member.id, offer_id)
    if existing is None:
        row = Activation(member_id=member.id, offer_id=offer_id, activated_at=now)
        detail = f"offer {offer_id} is already activated"
        try:
            add_unique(session, row, field="offer_id", detail=detail)
            return ActivationOut.model_validate(row, from_attributes=True), True
        except Conflict:
            # A concurrent request (a double tap) activated it first: that one is the first.
            existing = repo.get_activation(session, member.id, offer_id)
            if existing is None:
                raise
    return ActivationOut.model_validate(existing, from_attributes=True), False


def list_activations(
    session: Session, member: Member, *, after_offer_id: int, limit: int
) -> list[ActivationOut]:
    assert member.id is not None
    rows = repo.list_activations(session, member.id, after_offer_id=after_offer_id, limit=limit)
    return [ActivationOut.model_validate(r, from_attributes=True) for r in rows]


def balances(session: Session, member: Member) -> BalancesOut:
    assert member.id is not None
    found = member_balances(session.connection(), member.id)
    return BalancesOut(
        member_id=member.id,
        balances=[
            BalanceOut(
                currency=b.currency,
                pending_amount=b.pending_amount,
                available_amount=b.available_amount,
                recovery_amount=b.recovery_amount,
                lifetime_amount=b.lifetime_amount,
            )
            for b in found
        ],
    )


def activity(
    session: Session, principal: Principal, member: Member, *, before_id: int | None, limit: int
) -> list[ActivityItem]:
    """Card events newest first, each with its reward state or the reason there is none."""
    assert member.id is not None
    items = []
    for r in repo.activity(session, member.id, before_id=before_id, limit=limit):
        outcome, reason = r.outcome, r.reason
        if principal.role in (Role.MEMBER, Role.PUBLISHER):  # the member's side: no holdouts
            outcome, reason, _ = member_facing(outcome, reason, parse_decisions(r.decisions_json))
        reward = None
        if r.reward_id is not None:
            reward = RewardSummary(
                reward_id=r.reward_id,
                state=r.state,
                reward_amount=r.reward_amount,
                clawed_reward_amount=r.clawed_reward_amount,
                hold_until=r.hold_until,
            )
        items.append(
            ActivityItem(
                event_id=r.id,
                kind=r.kind,
                occurred_at=r.occurred_at,
                amount=r.amount,
                currency=r.currency,
                merchant=r.brand_name or r.merchant_name or r.descriptor,
                outcome=outcome,
                reason=reason,
                reward=reward,
            )
        )
    return items
