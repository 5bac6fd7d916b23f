"""Response models of the ledger as finance sees it: accounts, entries with postings, and a
card event found by the feed's own id."""

from __future__ import annotations

from pydantic import BaseModel

from service.merchants.common import UtcDatetime


class LedgerAccountOut(BaseModel):
    id: int
    code: str
    kind: str
    owner_type: str
    owner_id: int | None
    currency: str
    posted_amount: int  # what the platform owes is positive, what it is owed negative
    pending_amount: int


class PostingOut(BaseModel):
    account_id: int
    account_code: str
    amount: int
    currency: str


class LedgerEntryOut(BaseModel):
    id: int
    kind: str
    status: str  # pending | posted | voided
    currency: str
    effective_at: UtcDatetime
    created_at: UtcDatetime
    memo: str
    event_id: int | None
    offer_id: int | None
    merchant_id: int | None
    member_id: int | None
    run_id: int | None
    reverses_entry_id: int | None
    postings: list[PostingOut]


class CardEventOut(BaseModel):
    id: int
    source: str
    external_id: str
    kind: str
    card_id: int
    member_id: int
    merchant_id: int | None
    amount: int
    currency: str
    occurred_at: UtcDatetime
    original_external_id: str | None
    linked_event_id: int | None
    outcome: str
    reason: str | None
    reward_id: int | None
    ingested_at: UtcDatetime
