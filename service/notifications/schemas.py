"""Request and response models for a member's notifications, choices and push browsers."""

from __future__ import annotations

from functools import cache
from typing import Annotated, Literal
from zoneinfo import available_timezones

from pydantic import BaseModel, Field, StringConstraints, field_validator, model_validator

from service.merchants.common import MAX_BIG_ID, RequestModel, UtcDatetime

MINUTES_PER_DAY = 24 * 60


class NotificationOut(BaseModel):
    id: int
    kind: str
    title: str
    body: str
    link: str
    amount_minor: int | None
    currency: str | None
    created_at: UtcDatetime
    read_at: UtcDatetime | None


class NotificationsOut(BaseModel):
    """Newest first; pass `next_cursor` back as `before_id` for older ones."""

    items: list[NotificationOut]
    unread_count: int
    next_cursor: int | None = None


class MarkRead(RequestModel):
    """Mark these notifications read (all unread ones when `notification_ids` is empty)."""

    notification_ids: Annotated[
        list[Annotated[int, Field(ge=1, le=MAX_BIG_ID)]], Field(max_length=500)
    ] = []


class MarkedRead(BaseModel):
    marked_count: int
    unread_count: int


class PreferencesIn(RequestModel):
    in_app: bool = True
    email: bool = True
    push: bool = True
    language: Literal["en", "nb"] | None = None
    timezone: Annotated[str, StringConstraints(min_length=1, max_length=64)] = "UTC"
    # Minutes after local midnight; both or neither. 22:00-07:00 is 1320 and 420.
    quiet_start_minute: Annotated[int, Field(ge=0, lt=MINUTES_PER_DAY)] | None = None
    quiet_end_minute: Annotated[int, Field(ge=0, lt=MINUTES_PER_DAY)] | None = None

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        if value not in _zones():
            raise ValueError("unknown time zone (an IANA name such as Europe/Oslo)")
        return value

    @model_validator(mode="after")
    def _both_or_neither(self) -> PreferencesIn:
        if (self.quiet_start_minute is None) != (self.quiet_end_minute is None):
            raise ValueError("quiet_start_minute and quiet_end_minute go together")
        return self


class PreferencesOut(BaseModel):
    member_id: int
    in_app: bool
    email: bool
    push: bool
    language: str | None
    timezone: str
    quiet_start_minute: int | None
    quiet_end_minute: int | None
    email_address_known: bool
    push_browsers: int


class PushKeys(RequestModel):
    p256dh: Annotated[str, StringConstraints(min_length=20, max_length=200)]
    auth: Annotated[str, StringConstraints(min_length=8, max_length=100)]


class PushSubscriptionIn(RequestModel):
    """What the browser's PushSubscription.toJSON() gives (expirationTime is ignored)."""

    endpoint: Annotated[str, StringConstraints(min_length=12, max_length=1000)]
    keys: PushKeys
    expirationTime: int | None = None  # the browser's own field name

    @field_validator("endpoint")
    @classmethod
    def _https(cls, value: str) -> str:
        if not value.startswith(("https://", "http://127.0.0.1", "http://localhost")):
            raise ValueError("a push endpoint is an https URL")
        return value


class PushSubscriptionOut(BaseModel):
    id: int
    created_at: UtcDatetime


@cache
def _zones() -> frozenset[str]:
    return frozenset(available_timezones())
