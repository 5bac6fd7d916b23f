"""Every query of the members domain."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func
from sqlalchemy import select as core_select
from sqlmodel import Session, col, select

from service.tables import Activation, CardEventRow, Member, Merchant
from settlement.tables import Reward

_events = CardEventRow.__table__
_merchants = Merchant.__table__
_rewards = Reward.__table__


def get_member(session: Session, member_id: int) -> Member | None:
    return session.get(Member, member_id)


def member_by_external_ref(session: Session, external_ref: str) -> Member | None:
    return session.exec(select(Member).where(Member.external_ref == external_ref)).first()


def get_activation(session: Session, member_id: int, offer_id: int) -> Activation | None:
    return session.get(Activation, (member_id, offer_id))


def list_activations(
    session: Session, member_id: int, *, after_offer_id: int, limit: int
) -> list[Activation]:
    query = (
        select(Activation)
        .where(Activation.member_id == member_id, col(Activation.offer_id) > after_offer_id)
        .order_by(col(Activation.offer_id))
        .limit(limit)
    )
    return list(session.exec(query))


def activity(session: Session, member_id: int, *, before_id: int | None, limit: int) -> list[Any]:
    """The member's card events, newest first, with brand name and reward state."""
    query = (
        core_select(
            _events.c.id,
            _events.c.kind,
            _events.c.occurred_at,
            _events.c.amount,
            _events.c.currency,
            _events.c.merchant_name,
            _events.c.descriptor,
            _events.c.outcome,
            _events.c.reason,
            _events.c.decisions_json,
            _merchants.c.brand_name,
            _rewards.c.id.label("reward_id"),
            _rewards.c.state,
            _rewards.c.reward_amount,
            _rewards.c.clawed_reward_amount,
            _rewards.c.hold_until,
        )
        .select_from(
            _events.outerjoin(_merchants, _merchants.c.id == _events.c.merchant_id).outerjoin(
                _rewards, _rewards.c.id == _events.c.reward_id
            )
        )
        .where(_events.c.member_id == member_id)
        .order_by(_events.c.id.desc())
        .limit(limit)
    )
    if before_id is not None:
        query = query.where(_events.c.id < before_id)
    return list(session.connection().execute(query))


def pending_rewards_by_release(session: Session, member_id: int, *, limit: int) -> list[Any]:
    """Pending cashback by the day it becomes available: (hold_until, currency, amount)."""
    query = (
        core_select(
            _rewards.c.hold_until,
            _rewards.c.currency,
            func.sum(_rewards.c.reward_amount - _rewards.c.clawed_reward_amount).label("amount"),
        )
        .where(
            _rewards.c.member_id == member_id,
            _rewards.c.state.in_(("authorized", "cleared")),
        )
        .group_by(_rewards.c.hold_until, _rewards.c.currency)
        .order_by(_rewards.c.hold_until)
        .limit(limit)
    )
    return list(session.connection().execute(query))
