"""Settlement periods: ISO weeks, Monday 00:00 UTC up to (not including) the next Monday.

Periods are UTC. A merchant in another time zone sees its local week shifted by its offset
(a New York merchant's "week" starts Sunday 19:00 or 20:00 local, depending on DST); the
statement says so by giving the UTC bounds. Per-merchant local periods would be a second
run kind keyed by time zone, not a change to this one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

_WEEK = re.compile(r"^(\d{4})-W(\d{2})$")


class InvalidPeriod(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class Period:
    label: str  # e.g. 2026-W46
    start: datetime  # inclusive, aware UTC
    end: datetime  # exclusive

    def contains(self, at: datetime) -> bool:
        return self.start <= at < self.end


def iso_week(label: str) -> Period:
    match = _WEEK.match(label or "")
    if not match:
        raise InvalidPeriod(f"period {label!r} is not an ISO week like 2026-W46")
    year, week = int(match.group(1)), int(match.group(2))
    try:
        monday = date.fromisocalendar(year, week, 1)
    except ValueError:
        raise InvalidPeriod(f"{year} has no ISO week {week}") from None
    start = datetime.combine(monday, time(0), tzinfo=UTC)
    return Period(label, start, start + timedelta(days=7))


def week_of(at: datetime) -> Period:
    """The ISO week containing `at` (aware; compared in UTC)."""
    if at.tzinfo is None:
        raise InvalidPeriod("a naive datetime has no week: give a time zone")
    year, week, _ = at.astimezone(UTC).isocalendar()
    return iso_week(f"{year}-W{week:02d}")


def previous_week(now: datetime) -> Period:
    """The last complete ISO week before `now`: what Monday's settlement closes."""
    return week_of(week_of(now).start - timedelta(seconds=1))
