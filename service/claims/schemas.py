"""Request and response models of missing-cashback claims."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal

from pydantic import BaseModel, Field

from service.merchants.common import MAX_AMOUNT, MAX_BIG_ID, MAX_ID, RequestModel, UtcDatetime

ClaimStatus = Literal["submitted", "accepted", "declined", "refused"]


class ClaimCreate(RequestModel):
    """A purchase that earned nothing, or never showed up. `amount` is in minor units and must
    be a JSON integer: 4000 is $40.00, and 40.0 is refused (a float is never money)."""

    merchant_id: Annotated[int, Field(strict=True, ge=1, le=MAX_ID)]
    purchase_date: date
    amount: Annotated[int, Field(strict=True, ge=1, le=MAX_AMOUNT)]
    currency: Annotated[str, Field(pattern=r"^[A-Z]{3}$")]
    card_last4: Annotated[str, Field(pattern=r"^[0-9]{4}$")]
    # The activity item the claim starts from, when there is one.
    card_event_id: Annotated[int | None, Field(strict=True, ge=1, le=MAX_BIG_ID)] = None
    note: Annotated[str, Field(max_length=500)] = ""


class ClaimDecision(RequestModel):
    decision: Literal["accept", "decline"]
    # Required to decline: the member is shown it.
    reason: Annotated[str, Field(max_length=500)] = ""


class ClaimOut(BaseModel):
    id: int
    member_id: int
    merchant_id: int
    merchant_name: str
    card_last4: str
    card_event_id: int | None
    purchase_date: date
    amount: int
    currency: str
    note: str
    status: ClaimStatus
    reason: str | None  # machine-readable: accepted, declined, budget_exhausted, ...
    decision_note: str
    decided_at: UtcDatetime | None
    offer_id: int | None
    reward_id: int | None
    reward_amount: int
    matched_event_id: int | None
    has_receipt: bool
    receipt_content_type: str | None
    created_at: UtcDatetime


class ReceiptOut(BaseModel):
    claim_id: int
    content_type: str
    size_bytes: int
    sha256: str
    uploaded_at: datetime
