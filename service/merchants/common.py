"""Pieces every domain's API shares: pages, bounded pagination, field checks, unique writes."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from functools import lru_cache
from typing import Annotated, Any, Generic, TypeVar
from zoneinfo import available_timezones

from fastapi import Path, Query
from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, field_validator
from pydantic_core import PydanticCustomError
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from matching.money import CURRENCY_EXPONENTS
from service.problems import Conflict

MAX_PAGE_SIZE = 200
DEFAULT_PAGE_SIZE = 50
MAX_AMOUNT = 10**12  # the largest amount a card event may carry, in minor units
MAX_ID = 2**31 - 1  # integer keys; card events use 64-bit keys
MAX_BIG_ID = 2**63 - 1
# Idempotency keys: ASCII letters and digits with - _ . : inside (a UUID, a ULID, "order-17:2"),
# 1-64 characters. Stored with the request they guard, so the card-number guard reads them too.
IDEMPOTENCY_KEY_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$"

T = TypeVar("T")


def _integer_required(value: Any) -> Any:
    """Money in minor units and rates in basis points come as JSON integers only. Pydantic
    would take 1000.0 (and "1000") as 1000; a float here is a unit mistake waiting to
    happen (10.00 meant as dollars, 2.5 meant as percent), so it is refused, whole or not."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise PydanticCustomError(
            "integer_required",
            "must be an integer (minor units or basis points), not {kind}",
            {"kind": type(value).__name__},
        )
    return value


# Every request field taking an amount in minor units or a rate in basis points.
WholeNumber = Annotated[int, BeforeValidator(_integer_required)]


class RequestModel(BaseModel):
    """Every request body: unknown fields are refused, strings are trimmed."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    @field_validator("*")
    @classmethod
    def _no_nul_characters(cls, value: Any) -> Any:
        # PostgreSQL text cannot hold NUL: refuse it here rather than fail on write.
        if isinstance(value, str) and "\x00" in value:
            raise ValueError("must not contain NUL (U+0000) characters")
        return value


class Page(BaseModel, Generic[T]):
    """One page of a list; pass `next_cursor` back as `after_id` (or `before_id`) for more."""

    items: list[T]
    next_cursor: int | None = None


class PageParams(BaseModel):
    limit: int
    after_id: int


def page_params(
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)] = DEFAULT_PAGE_SIZE,
    after_id: Annotated[int, Query(ge=0, le=MAX_ID)] = 0,
) -> PageParams:
    """Keyset pagination by ascending id: bounded page size, no offsets to scan past.

    Every table paged this way has 32-bit keys: a larger cursor would overflow the
    comparison on PostgreSQL.
    """
    return PageParams(limit=limit, after_id=after_id)


def page_of(rows: list, limit: int, convert: Callable[..., T], key: str = "id") -> Page[T]:
    """Rows were fetched with `limit + 1`: the extra row only says there is another page."""
    more = len(rows) > limit
    rows = rows[:limit]
    cursor = getattr(rows[-1], key) if more and rows else None
    return Page(items=[convert(r) for r in rows], next_cursor=cursor)


def _as_utc(value: datetime) -> datetime:
    return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)


# Output datetimes: always in UTC with an explicit offset.
UtcDatetime = Annotated[datetime, AfterValidator(_as_utc)]


@lru_cache(maxsize=1)
def _zones() -> frozenset[str]:
    return frozenset(available_timezones())


def check_timezone(value: str) -> str:
    if value not in _zones():
        raise ValueError("must be an IANA time zone name such as 'America/New_York'")
    return value


def check_currency(value: str) -> str:
    if value not in CURRENCY_EXPONENTS:
        raise ValueError("must be a supported ISO 4217 currency code such as 'USD'")
    return value


TimeZoneName = Annotated[str, AfterValidator(check_timezone)]
CurrencyCode = Annotated[str, AfterValidator(check_currency)]


def add_unique(
    session: Session, row: object, *, field: str, detail: str, reason: str = "duplicate"
) -> None:
    """Add and flush `row` in a savepoint; a unique-key violation becomes a 409 naming `field`.

    Callers look for the duplicate first; this catches the race between two requests.
    """
    session.flush()
    try:
        with session.begin_nested():
            session.add(row)
    except IntegrityError:
        raise Conflict(detail, field=field, reason=reason) from None


Id = Annotated[int, Path(ge=1, le=MAX_ID)]
BigId = Annotated[int, Path(ge=1, le=MAX_BIG_ID)]
