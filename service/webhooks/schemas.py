"""Request and response models for webhook endpoints and replays."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, Field, StringConstraints

from service.merchants.common import RequestModel, UtcDatetime
from service.webhooks.urls import MAX_URL_CHARS
from settlement.outbox import OutboxEventType

MAX_EVENT_TYPES = 32
EVENT_ID_PATTERN = r"^evt_\d{12}$"

EventTypeName = OutboxEventType | Literal["*"]
EventTypes = Annotated[list[EventTypeName], Field(min_length=1, max_length=MAX_EVENT_TYPES)]
Url = Annotated[str, StringConstraints(min_length=1, max_length=MAX_URL_CHARS)]
Description = Annotated[str, StringConstraints(max_length=200)]
EventId = Annotated[str, StringConstraints(pattern=EVENT_ID_PATTERN)]


class WebhookEndpointCreate(RequestModel):
    url: Url
    event_types: EventTypes = Field(description='Event types to receive; "*" for all')
    description: Description = ""


class WebhookEndpointUpdate(RequestModel):
    url: Url | None = None
    event_types: EventTypes | None = None
    description: Description | None = None
    enabled: bool | None = Field(
        default=None, description="true re-enables a disabled endpoint where it stopped"
    )


class WebhookEndpointOut(BaseModel):
    id: int
    url: str
    event_types: list[str]
    description: str
    status: Literal["enabled", "disabled"]
    disabled_reason: str | None
    disabled_at: UtcDatetime | None
    key_id: str = Field(description="Sent as X-CLO-Key-Id; stays the same across rotations")
    previous_secret_expires_at: UtcDatetime | None
    pending_deliveries: int
    created_at: UtcDatetime
    updated_at: UtcDatetime


class WebhookEndpointCreated(WebhookEndpointOut):
    secret: str = Field(description="The signing secret: shown once")


class SecretRotated(BaseModel):
    key_id: str
    secret: str = Field(description="The new signing secret: shown once")
    previous_secret_expires_at: UtcDatetime


class ReplayRequest(RequestModel):
    event_id: EventId | None = Field(default=None, description="Send this one event again")
    since_event_id: EventId | None = Field(
        default=None, description="Send this event and every later one again, in order"
    )


class ReplayOut(BaseModel):
    queued: int
    first_sequence: int | None
    last_sequence: int | None
