"""Card events as members, merchants and support see them."""

from __future__ import annotations

from fastapi import Depends
from sqlmodel import Session

from service.auth import Principal, Role, db_session, require
from service.events import service
from service.events.schemas import ExplanationOut
from service.merchants.common import BigId
from service.routing import make_router

router = make_router(prefix="/card-events", tags=["card events"])

explainers = require(Role.FINANCE, Role.PUBLISHER, Role.MEMBER, Role.MERCHANT)


@router.get(
    "/{event_id}/explanation",
    summary="Why a card event did or did not earn cashback, offer by offer",
)
def explain_event(
    event_id: BigId,
    session: Session = db_session,
    principal: Principal = Depends(explainers),
) -> ExplanationOut:
    event = service.event_in_scope(session, principal, event_id)
    return service.explain(session, principal, event)
