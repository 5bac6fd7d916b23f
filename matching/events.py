"""The canonical card event and the parser every feed goes through.

Feeds arrive as CSV rows (all strings), NDJSON lines and webhook bodies (JSON types). They
all become one `CardEvent`, or an `EventRejected` naming the field and a machine-readable
reason, which is stored with the raw event so nothing is dropped silently.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import TypeVar

from matching.money import CURRENCY_EXPONENTS


class EventKind(StrEnum):
    AUTH = "auth"
    CLEARING = "clearing"
    REFUND = "refund"
    REVERSAL = "reversal"


class Source(StrEnum):
    NETWORK = "network"
    PLAID = "plaid"
    FILE = "file"


class Channel(StrEnum):
    IN_STORE = "in_store"
    ONLINE = "online"


@dataclass(frozen=True, slots=True)
class CardEvent:
    """One card event in canonical form: amount in minor units (> 0), time aware UTC."""

    source: Source
    external_id: str
    kind: EventKind
    card_id: int
    amount: int
    currency: str
    occurred_at: datetime
    mid: str | None
    acquirer_id: str | None
    descriptor: str | None
    merchant_name: str | None
    mcc: str | None
    country: str | None
    postal_code: str | None
    brand_hint: str | None
    channel: Channel
    original_external_id: str | None


class EventRejected(ValueError):
    """A raw event that cannot become a `CardEvent`.

    `field` is the offending input field, `reason` a stable machine code (stored and
    counted), `detail` a sentence for people.
    """

    def __init__(self, field: str, reason: str, detail: str) -> None:
        # Passing all three to the base keeps the exception picklable across processes.
        super().__init__(field, reason, detail)
        self.field = field
        self.reason = reason
        self.detail = detail

    def __str__(self) -> str:
        return f"{self.field}: {self.detail} [{self.reason}]"


MAX_AMOUNT = 10**12
MAX_CARD_ID = 2**31 - 1  # card ids are 32-bit integers in the database
EXTERNAL_ID_MAX_CHARS = 128
TEXT_MAX_CHARS = 255
# The widths of the columns each field is stored in: a longer value is refused, never cut.
MID_MAX_CHARS = 64
ACQUIRER_ID_MAX_CHARS = 64
MCC_MAX_CHARS = 8
COUNTRY_MAX_CHARS = 3
POSTAL_CODE_MAX_CHARS = 16
# A timestamp longer than this is not ISO 8601; refusing it early bounds the parsing cost.
_TIMESTAMP_MAX_CHARS = 64

_E = TypeVar("_E", bound=StrEnum)
_KINDS: dict[str, EventKind] = {k.value: k for k in EventKind}
_CHANNELS: dict[str, Channel] = {c.value: c for c in Channel}
_NEEDS_ORIGINAL = frozenset((EventKind.REFUND, EventKind.REVERSAL))


def _text(raw: Mapping[str, object], name: str, max_chars: int) -> str | None:
    """A stripped, bounded string field; None when absent or empty."""
    value = raw.get(name)
    if value is None:
        return None
    if type(value) is not str:
        # JSON feeds send MIDs and postal codes as numbers now and then; that is still an
        # identifier, but a float or a list is not.
        if isinstance(value, int) and not isinstance(value, bool):
            value = str(value)
        else:
            raise EventRejected(
                name, "invalid_type", f"expected a string, got {type(value).__name__}"
            )
    value = value.strip()
    if not value:
        return None
    if len(value) > max_chars:
        raise EventRejected(name, "field_too_long", f"longer than {max_chars} characters")
    return value


def _required_text(raw: Mapping[str, object], name: str, max_chars: int) -> str:
    value = _text(raw, name, max_chars)
    if value is None:
        raise EventRejected(name, "missing_field", f"{name} is required")
    return value


def _positive_int(
    raw: Mapping[str, object], name: str, reason: str, maximum: int, what: str
) -> int:
    value = raw.get(name)
    if value is None or value == "":
        raise EventRejected(name, "missing_field", f"{name} is required")
    if type(value) is int:
        number = value
    elif type(value) is str:
        text = value.strip()
        if not text:
            raise EventRejected(name, "missing_field", f"{name} is required")
        # isascii() because str.isdigit() also accepts digits such as "²" that int() refuses;
        # the length bound keeps a megabyte of digits from being converted.
        if not (text.isascii() and text.isdigit()) or len(text) > 20:
            raise EventRejected(name, reason, f"{name} must be {what}, got {text[:40]!r}")
        number = int(text)
    else:
        # Floats included: 12.5 could be dollars or a rounding accident, never minor units.
        raise EventRejected(name, reason, f"{name} must be {what}, got {type(value).__name__}")
    if not 0 < number <= maximum:
        raise EventRejected(name, reason, f"{name} must be {what} up to {maximum}, got {number}")
    return number


def _choice(
    raw: Mapping[str, object], name: str, choices: Mapping[str, _E], reason: str
) -> _E | None:
    value = _text(raw, name, TEXT_MAX_CHARS)
    if value is None:
        return None
    found = choices.get(value)
    if found is None:
        found = choices.get(value.lower())
        if found is None:
            allowed = ", ".join(choices)
            raise EventRejected(name, reason, f"{value[:40]!r} is not one of {allowed}")
    return found


def _timestamp(raw: Mapping[str, object]) -> datetime:
    value = raw.get("occurred_at")
    if isinstance(value, datetime):
        moment = value
    elif value is not None and not isinstance(value, str):
        # Epoch numbers are refused: seconds or milliseconds would be a guess.
        raise EventRejected(
            "occurred_at",
            "invalid_timestamp",
            f"expected ISO 8601 text, got {type(value).__name__}",
        )
    else:
        text = _required_text(raw, "occurred_at", TEXT_MAX_CHARS)
        if len(text) > _TIMESTAMP_MAX_CHARS:
            raise EventRejected("occurred_at", "invalid_timestamp", "not an ISO 8601 timestamp")
        try:
            moment = datetime.fromisoformat(text)
        except ValueError:
            raise EventRejected(
                "occurred_at", "invalid_timestamp", f"not an ISO 8601 timestamp: {text!r}"
            ) from None
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise EventRejected(
            "occurred_at", "naive_timestamp", "timestamp needs an offset or Z (UTC)"
        )
    return moment if moment.tzinfo is UTC else moment.astimezone(UTC)


# What a feed record may carry: `CardEvent`'s fields but `source` (the feed says which).
FEED_FIELDS = frozenset(
    (
        "external_id",
        "kind",
        "card_id",
        "amount",
        "currency",
        "occurred_at",
        "mid",
        "acquirer_id",
        "descriptor",
        "merchant_name",
        "mcc",
        "country",
        "postal_code",
        "brand_hint",
        "channel",
        "original_external_id",
    )
)
FIELD_NAME_MAX_CHARS = 64


def parse_event(raw: Mapping[str, object], source: Source) -> CardEvent:
    """Build a `CardEvent` from one feed record, or raise `EventRejected`.

    Field names are those of `CardEvent` (without `source`); any other field is refused
    (`unknown_field`, naming it), as the REST bodies refuse theirs: a misspelt optional
    field would otherwise vanish without a word.
    """
    if not FEED_FIELDS.issuperset(raw):
        unknown = str(next(k for k in raw if k not in FEED_FIELDS))
        raise EventRejected(
            unknown[:FIELD_NAME_MAX_CHARS],
            "unknown_field",
            f"{unknown[:FIELD_NAME_MAX_CHARS]!r} is not a card event field",
        )
    external_id = _required_text(raw, "external_id", EXTERNAL_ID_MAX_CHARS)
    kind = _choice(raw, "kind", _KINDS, "invalid_kind")
    if kind is None:
        raise EventRejected("kind", "missing_field", "kind is required")
    card_id = _positive_int(raw, "card_id", "invalid_card_id", MAX_CARD_ID, "a positive integer")
    amount = _positive_int(
        raw, "amount", "invalid_amount", MAX_AMOUNT, "a positive whole number of minor units"
    )
    currency = _required_text(raw, "currency", TEXT_MAX_CHARS)
    if currency not in CURRENCY_EXPONENTS:
        raise EventRejected(
            "currency", "invalid_currency", f"{currency[:40]!r} is not a known ISO 4217 code"
        )
    occurred_at = _timestamp(raw)
    channel = _choice(raw, "channel", _CHANNELS, "invalid_channel") or Channel.IN_STORE
    original = _text(raw, "original_external_id", EXTERNAL_ID_MAX_CHARS)
    if original is None and kind in _NEEDS_ORIGINAL:
        raise EventRejected(
            "original_external_id", "missing_original", f"a {kind} must name the event it undoes"
        )
    return CardEvent(
        source=source,
        external_id=external_id,
        kind=kind,
        card_id=card_id,
        amount=amount,
        currency=currency,
        occurred_at=occurred_at,
        mid=_text(raw, "mid", MID_MAX_CHARS),
        acquirer_id=_text(raw, "acquirer_id", ACQUIRER_ID_MAX_CHARS),
        descriptor=_text(raw, "descriptor", TEXT_MAX_CHARS),
        merchant_name=_text(raw, "merchant_name", TEXT_MAX_CHARS),
        mcc=_text(raw, "mcc", MCC_MAX_CHARS),
        country=_text(raw, "country", COUNTRY_MAX_CHARS),
        postal_code=_text(raw, "postal_code", POSTAL_CODE_MAX_CHARS),
        brand_hint=_text(raw, "brand_hint", TEXT_MAX_CHARS),
        channel=channel,
        original_external_id=original,
    )
