"""Request and response models for cards. A card is known by provider token, never by number."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, Field, StringConstraints

from service.merchants.common import RequestModel, UtcDatetime

CardBrand = Literal[
    "visa", "mastercard", "amex", "discover", "jcb", "diners", "unionpay", "unknown"
]


class CardCreate(RequestModel):
    """What a trusted publisher knows of a card it enrolled: its token, never the number."""

    provider_token: Annotated[str, StringConstraints(min_length=1, max_length=255)]
    fingerprint: Annotated[str, StringConstraints(min_length=1, max_length=128)]
    brand: CardBrand
    last4: Annotated[str, StringConstraints(pattern=r"^[0-9]{4}$")]
    exp_month: Annotated[int, Field(ge=1, le=12)] | None = None
    exp_year: Annotated[int, Field(ge=2000, le=2100)] | None = None


class CardOut(BaseModel):
    id: int
    member_id: int
    provider: str
    brand: str
    last4: str
    exp_month: int | None
    exp_year: int | None
    status: str
    created_at: UtcDatetime
    unlinked_at: UtcDatetime | None
