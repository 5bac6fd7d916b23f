"""An Item's card and bank activity as Plaid reports it, and `/transactions/sync` paging over it.

Every change (a new, changed or removed Plaid transaction) is one entry in the Item's change
log. A cursor is a position in that log: a sync from position `start` reports the net
difference between the state at `start` and the state at the head, as `added`, `modified`
and `removed`, in the order of each record's last change. A page that does not reach the end
hands out a cursor that remembers the head it was cut from; if the log grew in the meantime,
the next page is refused with TRANSACTIONS_SYNC_MUTATION_DURING_PAGINATION, as Plaid does.
"""

from __future__ import annotations

import base64
import binascii
import bisect
import copy
import datetime as dt
import secrets
import string
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from . import errors

MAX_LOG_ENTRIES = 200_000
_ID_ALPHABET = string.ascii_letters + string.digits
PAYMENT_CHANNELS = ("online", "in store", "other")
_TRANSACTION_TYPES = {"in store": "place", "online": "digital", "other": "special"}
_DEFAULT_CATEGORY = {
    "primary": "GENERAL_MERCHANDISE",
    "detailed": "GENERAL_MERCHANDISE_OTHER_GENERAL_MERCHANDISE",
    "confidence_level": "LOW",
}
_EMPTY_LOCATION = dict.fromkeys(
    ("address", "city", "region", "postal_code", "country", "lat", "lon", "store_number")
)
_EMPTY_PAYMENT_META = dict.fromkeys(
    (
        "reference_number",
        "ppd_id",
        "payee",
        "by_order_of",
        "payer",
        "payment_method",
        "payment_processor",
        "reason",
    )
)


# Transaction fields carried over when a pending transaction posts, and when one is modified
POSTING_FIELDS: tuple[str, ...] = (
    "account_id",
    "amount",
    "name",
    "authorized_date",
    "authorized_datetime",
    "merchant_name",
    "merchant_entity_id",
    "iso_currency_code",
    "unofficial_currency_code",
    "payment_channel",
    "location",
    "personal_finance_category",
    "website",
    "logo_url",
)
REBUILD_FIELDS: tuple[str, ...] = (
    *POSTING_FIELDS,
    "transaction_id",
    "date",
    "datetime",
    "pending",
    "pending_transaction_id",
    "category",
    "category_id",
    "original_description",
    "transaction_code",
    "check_number",
)


def plaid_id(length: int = 37) -> str:
    """An identifier shaped like Plaid's (mixed-case letters and digits)."""
    return "".join(secrets.choice(_ID_ALPHABET) for _ in range(length))


def as_amount(value: Any) -> float:
    """A JSON number with at most two decimals (Plaid sends amounts as floats)."""
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal | str):
        raise errors.invalid_field(f"amount must be a number, got {value!r}")
    try:
        amount = Decimal(str(value))
    except ArithmeticError as exc:
        raise errors.invalid_field(f"amount must be a number, got {value!r}") from exc
    if not amount.is_finite():
        raise errors.invalid_field(f"amount must be finite, got {value!r}")
    return float(amount.quantize(Decimal("0.01")))


def as_date(value: Any, field: str) -> str:
    if isinstance(value, dt.datetime):
        return value.date().isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    try:
        return dt.date.fromisoformat(str(value)).isoformat()
    except ValueError as exc:
        raise errors.invalid_field(f"{field} must be a date in YYYY-MM-DD format") from exc


def as_datetime(value: Any, field: str) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        try:
            value = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError as exc:
            raise errors.invalid_field(f"{field} must be an ISO 8601 date-time") from exc
    if not isinstance(value, dt.datetime) or value.tzinfo is None:
        raise errors.invalid_field(f"{field} must be a timezone-aware date-time")
    return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def build_transaction(
    *,
    account_id: str,
    amount: Any,
    name: str | None = None,
    date: Any = None,
    authorized_date: Any = None,
    datetime: Any = None,
    authorized_datetime: Any = None,
    merchant_name: str | None = None,
    merchant_entity_id: str | None = None,
    pending: bool = False,
    pending_transaction_id: str | None = None,
    transaction_id: str | None = None,
    iso_currency_code: str | None = "USD",
    unofficial_currency_code: str | None = None,
    payment_channel: str = "in store",
    location: dict[str, Any] | None = None,
    personal_finance_category: dict[str, Any] | None = None,
    category: list[str] | None = None,
    category_id: str | None = None,
    website: str | None = None,
    logo_url: str | None = None,
    original_description: str | None = None,
    transaction_code: str | None = None,
    check_number: str | None = None,
) -> dict[str, Any]:
    """A Plaid `Transaction` object with every field the spec requires."""
    if payment_channel not in PAYMENT_CHANNELS:
        raise errors.invalid_field(f"payment_channel must be one of {', '.join(PAYMENT_CHANNELS)}")
    today = dt.datetime.now(dt.UTC).date().isoformat()
    datetime_text = as_datetime(datetime, "datetime")
    authorized_datetime_text = as_datetime(authorized_datetime, "authorized_datetime")
    authorized_date = authorized_date or (authorized_datetime_text or "")[:10] or None
    authorized = as_date(authorized_date, "authorized_date") if authorized_date else None
    date = date or (datetime_text or "")[:10] or None
    posted = as_date(date, "date") if date else (authorized or today)
    unknown_location = set(location or {}) - set(_EMPTY_LOCATION)
    if unknown_location:
        raise errors.invalid_field(
            f"unknown location fields: {', '.join(sorted(unknown_location))}"
        )
    value = as_amount(amount)
    name = name or merchant_name or ("Card refund" if value < 0 else "Card purchase")
    category_obj = {**_DEFAULT_CATEGORY, **(personal_finance_category or {})}
    counterparties = []
    if merchant_name:
        counterparties.append(
            {
                "name": merchant_name,
                "type": "merchant",
                "entity_id": merchant_entity_id,
                "website": website,
                "logo_url": logo_url,
                "confidence_level": "VERY_HIGH" if merchant_entity_id else "MEDIUM",
            }
        )
    return {
        "transaction_id": transaction_id or plaid_id(),
        "account_id": account_id,
        "amount": value,
        "iso_currency_code": iso_currency_code,
        "unofficial_currency_code": unofficial_currency_code,
        "category": category,
        "category_id": category_id,
        "check_number": check_number,
        "date": posted,
        "authorized_date": authorized or posted,
        "datetime": datetime_text,
        "authorized_datetime": authorized_datetime_text,
        "location": {**_EMPTY_LOCATION, **(location or {})},
        "name": name,
        "merchant_name": merchant_name,
        "merchant_entity_id": merchant_entity_id,
        "original_description": original_description or name,
        "payment_meta": dict(_EMPTY_PAYMENT_META),
        "pending": bool(pending),
        "pending_transaction_id": pending_transaction_id,
        "account_owner": None,
        "logo_url": logo_url,
        "website": website,
        "payment_channel": payment_channel,
        "personal_finance_category": category_obj,
        "personal_finance_category_icon_url": (
            f"https://plaid-category-icons.plaid.com/PFC_{category_obj['primary']}.png"
        ),
        "counterparties": counterparties,
        "transaction_code": transaction_code,
        "transaction_type": _TRANSACTION_TYPES[payment_channel],
    }


@dataclass(frozen=True)
class Change:
    kind: str  # "added" | "modified" | "removed"
    transaction: dict[str, Any]


@dataclass(frozen=True)
class Cursor:
    item_id: str
    start: int
    end: int
    offset: int

    def encode(self) -> str:
        raw = f"{self.item_id}:{self.start}:{self.end}:{self.offset}".encode()
        return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")

    @classmethod
    def decode(cls, text: str) -> Cursor:
        try:
            raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)).decode("ascii")
            item_id, start, end, offset = raw.split(":")
            cursor = cls(item_id, int(start), int(end), int(offset))
        except (ValueError, UnicodeDecodeError, binascii.Error) as exc:
            raise errors.invalid_field("cursor is invalid") from exc
        if not 0 <= cursor.start <= cursor.end or cursor.offset < 0:
            raise errors.invalid_field("cursor is invalid")
        return cursor


class ChangeLog:
    """Versions of every Plaid transaction of one Item, by log position."""

    def __init__(self) -> None:
        self.length = 0
        self._touched: list[str] = []  # transaction id changed at each position
        self._positions: dict[str, list[int]] = {}
        self._versions: dict[str, list[dict[str, Any] | None]] = {}
        self._account_of: dict[str, str] = {}

    def _append(self, transaction_id: str, version: dict[str, Any] | None) -> None:
        if self.length >= MAX_LOG_ENTRIES:
            raise errors.invalid_field(f"this stand-in keeps at most {MAX_LOG_ENTRIES} changes")
        self._touched.append(transaction_id)
        self._positions.setdefault(transaction_id, []).append(self.length)
        self._versions.setdefault(transaction_id, []).append(copy.deepcopy(version))
        self.length += 1

    def current(self, transaction_id: str) -> dict[str, Any] | None:
        versions = self._versions.get(transaction_id)
        return copy.deepcopy(versions[-1]) if versions else None

    def current_all(self) -> list[dict[str, Any]]:
        found = (self.current(tid) for tid in self._versions)
        return [t for t in found if t is not None]

    def add(self, transaction: dict[str, Any]) -> None:
        transaction_id = transaction["transaction_id"]
        if transaction_id in self._versions:
            raise errors.invalid_field(f"transaction_id {transaction_id} already exists")
        self._account_of[transaction_id] = transaction["account_id"]
        self._append(transaction_id, transaction)

    def modify(self, transaction: dict[str, Any]) -> None:
        self._require(transaction["transaction_id"])
        self._append(transaction["transaction_id"], transaction)

    def remove(self, transaction_id: str) -> None:
        self._require(transaction_id)
        self._append(transaction_id, None)

    def _require(self, transaction_id: str) -> None:
        if self.current(transaction_id) is None:
            raise errors.invalid_field(f"no current transaction with id {transaction_id}")

    def _state_at(self, transaction_id: str, position: int) -> dict[str, Any] | None:
        """The version visible to a reader who has seen entries [0, position)."""
        index = bisect.bisect_left(self._positions[transaction_id], position) - 1
        return self._versions[transaction_id][index] if index >= 0 else None

    def changes(self, start: int, end: int, account_id: str | None = None) -> list[Change]:
        seen: set[str] = set()
        ordered: list[str] = []
        for transaction_id in reversed(self._touched[start:end]):
            if transaction_id not in seen:
                seen.add(transaction_id)
                ordered.append(transaction_id)
        ordered.reverse()
        found: list[Change] = []
        for transaction_id in ordered:
            if account_id is not None and self._account_of[transaction_id] != account_id:
                continue
            before = self._state_at(transaction_id, start)
            after = self._state_at(transaction_id, end)
            if before is None and after is not None:
                found.append(Change("added", copy.deepcopy(after)))
            elif before is not None and after is None:
                removed = {"transaction_id": transaction_id, "account_id": before["account_id"]}
                found.append(Change("removed", removed))
            elif before is not None and after is not None and before != after:
                found.append(Change("modified", copy.deepcopy(after)))
        return found


@dataclass
class SyncPage:
    added: list[dict[str, Any]]
    modified: list[dict[str, Any]]
    removed: list[dict[str, Any]]
    next_cursor: str
    has_more: bool


def sync_page(
    log: ChangeLog,
    item_id: str,
    cursor_text: str | None,
    count: int,
    *,
    account_id: str | None = None,
    force_mutation_error: bool = False,
) -> SyncPage:
    """One `/transactions/sync` page; raises the Plaid errors Plaid would."""
    head = log.length
    if not cursor_text:
        cursor = Cursor(item_id, 0, head, 0)
    elif cursor_text == "now":
        cursor = Cursor(item_id, head, head, 0)
    else:
        cursor = Cursor.decode(cursor_text)
        if cursor.item_id != item_id or cursor.end > head:
            raise errors.invalid_field("cursor is invalid for this access_token")
        if cursor.offset > 0 and (force_mutation_error or cursor.end != head):
            raise errors.sync_mutation_during_pagination()
        if cursor.offset == 0:
            cursor = Cursor(item_id, cursor.end, head, 0)
    changes = log.changes(cursor.start, cursor.end, account_id)
    if cursor.offset > len(changes):
        raise errors.invalid_field("cursor is invalid")
    page = changes[cursor.offset : cursor.offset + count]
    next_offset = cursor.offset + len(page)
    has_more = next_offset < len(changes)
    if has_more:
        next_cursor = Cursor(item_id, cursor.start, cursor.end, next_offset)
    else:
        next_cursor = Cursor(item_id, cursor.end, cursor.end, 0)
    return SyncPage(
        added=[c.transaction for c in page if c.kind == "added"],
        modified=[c.transaction for c in page if c.kind == "modified"],
        removed=[c.transaction for c in page if c.kind == "removed"],
        next_cursor=next_cursor.encode(),
        has_more=has_more,
    )
