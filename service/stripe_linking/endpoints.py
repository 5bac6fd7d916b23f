"""Stripe card linking: a SetupIntent for the card form, then its card stored."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import Depends, Header, Path, Request, Response, status
from pydantic import BaseModel
from sqlmodel import Session

from service.auth import Principal, Role, db_session, require
from service.cards.schemas import CardOut
from service.members.service import member_in_scope
from service.merchants.common import IDEMPOTENCY_KEY_PATTERN, Id
from service.openapi_problems import REPEATED_200
from service.routing import make_router
from service.stripe_linking import service

router = make_router(prefix="/members/{member_id}/cards/setup-intents", tags=["cards"])
member_side = require(Role.MEMBER, Role.PUBLISHER)
SetupIntentId = Annotated[str, Path(min_length=5, max_length=64, pattern=r"^seti_[A-Za-z0-9]+$")]
RequestKey = Annotated[
    str | None,
    Header(alias="Idempotency-Key", min_length=1, max_length=64, pattern=IDEMPOTENCY_KEY_PATTERN),
]


class SetupIntentOut(BaseModel):
    setup_intent_id: str
    client_secret: str
    status: str


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    summary="Start linking a card: a Stripe SetupIntent whose client_secret the card form uses",
)
def create_setup_intent(
    member_id: Id,
    request: Request,
    idempotency_key: RequestKey = None,
    session: Session = db_session,
    principal: Principal = Depends(member_side),
) -> SetupIntentOut:
    member = member_in_scope(session, principal, member_id)
    client = service.client_for(request.app.state.settings)
    found = service.create_setup_intent(
        session, client, member, request_key=idempotency_key, now=datetime.now(UTC)
    )
    return SetupIntentOut(**found)


@router.post(
    "/{setup_intent_id}/confirm",
    status_code=status.HTTP_201_CREATED,
    responses=REPEATED_200,
    summary="After the card form confirmed the SetupIntent: store its card (brand, last4, ...)",
)
def confirm_setup_intent(
    member_id: Id,
    setup_intent_id: SetupIntentId,
    request: Request,
    response: Response,
    session: Session = db_session,
    principal: Principal = Depends(member_side),
) -> CardOut:
    member = member_in_scope(session, principal, member_id)
    client = service.client_for(request.app.state.settings)
    card, created = service.confirm_setup_intent(
        session, client, member, setup_intent_id, now=datetime.now(UTC)
    )
    if not created:
        response.status_code = status.HTTP_200_OK
    return CardOut.model_validate(card, from_attributes=True)
