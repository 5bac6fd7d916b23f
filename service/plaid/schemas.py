"""Request and response models of Plaid linking."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, Field, StringConstraints

from service.cards.schemas import CardOut
from service.merchants.common import MAX_ID, RequestModel, UtcDatetime


class LinkTokenCreate(RequestModel):
    """Empty for a new link; `item_id` for update mode (re-linking an Item that needs it)."""

    item_id: Annotated[int, Field(ge=1, le=MAX_ID)] | None = None


class LinkTokenOut(BaseModel):
    link_token: str
    expiration: UtcDatetime


class PublicTokenExchange(RequestModel):
    public_token: Annotated[
        str, StringConstraints(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9_-]+$")
    ]


class PlaidItemOut(BaseModel):
    id: int
    member_id: int
    institution_id: str | None
    status: str  # active | relink_required
    error_code: str | None
    error_status: int | None  # the HTTP status Plaid gave the error
    transactions_update_status: str | None  # NOT_READY until Plaid has pulled history
    last_synced_at: UtcDatetime | None
    created_at: UtcDatetime


class LinkedItemOut(BaseModel):
    item: PlaidItemOut
    cards: list[CardOut]
