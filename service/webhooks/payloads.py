"""What partners receive: one versioned, documented payload per outbox event type.

The outbox row keeps a few facts; the payload is rendered from it when it is sent, through
the pydantic model of its type, which keeps only the fields it declares, so nothing the row's
`data` happens to carry (never a card number or a person's name) leaks out. The JSON Schema
of every envelope is published at GET /v1/webhook-events/schema.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, create_model

from settlement.outbox import OUTBOX_SCHEMA_VERSION, OutboxEventType, public_event_id

SCHEMA_VERSION = OUTBOX_SCHEMA_VERSION


class EventData(BaseModel):
    model_config = ConfigDict(extra="ignore")
    occurred_at: datetime = Field(description="When the change happened (UTC)")


class MemberEventData(EventData):
    member_id: int


class RewardData(MemberEventData):
    reward_id: int
    offer_id: int
    merchant_id: int | None = None
    amount_minor: int = Field(
        description="pending/posted: the net reward; voided/clawed_back/available: the part moved"
    )
    currency: str


class PayoutData(MemberEventData):
    payout_id: int
    run_id: int
    amount_minor: int
    currency: str
    failure_reason: str | None = Field(default=None, description="payout.failed only")


class OfferData(EventData):
    offer_id: int
    merchant_id: int
    status: str | None = Field(default=None, description="offer.published: scheduled or live")
    amount_minor: int | None = Field(default=None, description="budget events: budget left")
    currency: str | None = None


class SettlementData(EventData):
    run_id: int
    period: str
    total_amount_minor: int = Field(description="what the run's statements total")


class CardLinkedData(MemberEventData):
    card_id: int
    provider: str = Field(description="stripe, plaid or api")
    brand: str | None = None


class PlaidItemRelinkData(MemberEventData):
    plaid_item_id: int
    error_code: str | None = None


class ClaimDecidedData(MemberEventData):
    claim_id: int | None = None
    decision: str | None = None
    amount_minor: int | None = None
    currency: str | None = None


DATA_MODELS: dict[OutboxEventType, type[EventData]] = {
    OutboxEventType.REWARD_PENDING: RewardData,
    OutboxEventType.REWARD_POSTED: RewardData,
    OutboxEventType.REWARD_VOIDED: RewardData,
    OutboxEventType.REWARD_CLAWED_BACK: RewardData,
    OutboxEventType.REWARD_AVAILABLE: RewardData,
    OutboxEventType.PAYOUT_PAID: PayoutData,
    OutboxEventType.PAYOUT_FAILED: PayoutData,
    OutboxEventType.OFFER_PUBLISHED: OfferData,
    OutboxEventType.OFFER_ENDED: OfferData,
    OutboxEventType.OFFER_BUDGET_LOW: OfferData,
    OutboxEventType.OFFER_BUDGET_EXHAUSTED: OfferData,
    OutboxEventType.SETTLEMENT_AWAITING_APPROVAL: SettlementData,
    OutboxEventType.SETTLEMENT_CLOSED: SettlementData,
    OutboxEventType.CARD_LINKED: CardLinkedData,
    OutboxEventType.PLAID_ITEM_RELINK_REQUIRED: PlaidItemRelinkData,
    OutboxEventType.CLAIM_DECIDED: ClaimDecidedData,
}


class Envelope(BaseModel):
    id: str = Field(pattern=r"^evt_\d{12}$", description="Stable across retries and replays")
    type: str
    created: int = Field(description="When the event was written, Unix seconds")
    schema_version: Literal[1]
    data: EventData


def _envelope_model(type_: OutboxEventType) -> type[Envelope]:
    name = "".join(p.title() for p in type_.value.replace(".", "_").split("_")) + "Event"
    literal: Any = Literal.__getitem__(type_.value)
    model: type[Envelope] = create_model(
        name,
        __base__=Envelope,
        type=(literal, ...),
        data=(DATA_MODELS[type_], ...),
    )
    return model


ENVELOPES = {t: _envelope_model(t) for t in OutboxEventType}


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def render_event(row: Any) -> dict[str, Any]:
    """The envelope of one outbox row (an `outbox_event` row or any object with its columns)."""
    type_ = OutboxEventType(row.type)
    facts: dict[str, Any] = json.loads(row.data) if row.data else {}
    for column in ("member_id", "merchant_id", "offer_id", "reward_id", "amount_minor"):
        value = getattr(row, column)
        if value is not None:
            facts.setdefault(column, value)
    if row.currency is not None:
        facts.setdefault("currency", row.currency)
    facts["occurred_at"] = _utc(row.occurred_at)
    envelope = ENVELOPES[type_](
        id=public_event_id(row.id),
        type=type_.value,
        created=int(_utc(row.created_at).timestamp()),
        schema_version=1,
        data=DATA_MODELS[type_].model_validate(facts),
    )
    return envelope.model_dump(mode="json")


def render_body(row: Any) -> bytes:
    """The bytes sent (and signed) for one outbox row."""
    return json.dumps(render_event(row), separators=(",", ":"), sort_keys=True).encode()


def events_json_schema() -> dict[str, Any]:
    """The JSON Schema of every envelope, one `oneOf` branch per event type."""
    union: Any = Union.__getitem__(tuple(ENVELOPES.values()))
    adapter: TypeAdapter[Any] = TypeAdapter(Annotated[union, Field(discriminator="type")])
    schema = adapter.json_schema(ref_template="#/$defs/{model}")
    schema["title"] = "CLO partner webhook events"
    schema["description"] = (
        "Every webhook body is one of these envelopes; `type` says which. "
        f"schema_version {SCHEMA_VERSION}: fields are only ever added within a version."
    )
    schema["x-schema-version"] = SCHEMA_VERSION
    schema["x-event-types"] = [t.value for t in OutboxEventType]
    return schema
