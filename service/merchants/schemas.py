"""Request and response models for merchants, their locations, aliases and API keys."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, Field, StringConstraints

from service.members.schemas import EMAIL_PATTERN
from service.merchants.common import (
    CurrencyCode,
    RequestModel,
    TimeZoneName,
    UtcDatetime,
    WholeNumber,
)

Name = Annotated[str, StringConstraints(min_length=1, max_length=200)]
Bps = Annotated[WholeNumber, Field(ge=0, le=10_000)]
BillingEmail = Annotated[str, StringConstraints(max_length=254, pattern=EMAIL_PATTERN)]


# What members filter offers by.
Category = Literal[
    "dining", "groceries", "shopping", "fuel", "travel", "entertainment", "health", "other"
]


class MerchantCreate(RequestModel):
    brand_name: Name
    timezone: TimeZoneName
    currency: CurrencyCode
    default_commission_bps: Bps = 0
    category: Category = "other"
    billing_email: BillingEmail | None = None  # required before an offer is published


class MerchantUpdate(RequestModel):
    """The settlement currency is fixed once offers exist in it, so it is not here."""

    brand_name: Name | None = None
    timezone: TimeZoneName | None = None
    default_commission_bps: Bps | None = None
    category: Category | None = None
    billing_email: BillingEmail | None = None


class MerchantOut(BaseModel):
    id: int
    brand_name: str
    timezone: str
    currency: str
    default_commission_bps: int
    category: str
    billing_email: str | None
    created_at: UtcDatetime


class ApiKeyCreate(RequestModel):
    name: Annotated[str, StringConstraints(max_length=200)] = ""
    expires_at: UtcDatetime | None = None  # none: valid until revoked


class ApiKeyOut(BaseModel):
    """The token is shown once; only its hash is stored."""

    key_id: str
    token: str
    role: str
    merchant_id: int


class LocationCreate(RequestModel):
    name: Name
    mid: Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=r"^[\x21-\x7e]+$")]
    acquirer_id: Annotated[str, StringConstraints(min_length=1, max_length=64)] | None = None
    postal_code: Annotated[str, StringConstraints(min_length=1, max_length=16)] | None = None
    country: Annotated[str, StringConstraints(pattern=r"^[A-Z]{2}$")] | None = None


class LocationUpdate(RequestModel):
    """Only the name: a location's MID is what recorded card events point at."""

    name: Name


class LocationOut(BaseModel):
    id: int
    merchant_id: int
    name: str
    mid: str
    acquirer_id: str | None
    postal_code: str | None
    country: str | None
    created_at: UtcDatetime


class AliasCreate(RequestModel):
    """`name`: a merchant name as it shows on statements, stored normalized.

    `provider_entity_id`: an id such as Plaid's `merchant_entity_id`, stored exactly as given.
    """

    alias: Annotated[str, StringConstraints(min_length=1, max_length=255)]
    kind: Literal["name", "provider_entity_id"] = "name"


class AliasOut(BaseModel):
    id: int
    merchant_id: int
    alias: str
