"""Settlement periods: ISO weeks in UTC, at year ends, month ends and DST changes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from freezegun import freeze_time

from settlement.runs.periods import InvalidPeriod, iso_week, previous_week, week_of

NY = ZoneInfo("America/New_York")


def test_a_week_runs_monday_to_monday_utc():
    week = iso_week("2026-W46")
    assert week.start == datetime(2026, 11, 9, tzinfo=UTC)
    assert week.end == datetime(2026, 11, 16, tzinfo=UTC)
    assert week.contains(week.start)
    assert not week.contains(week.end)
    assert week.contains(week.end - timedelta(microseconds=1))


@pytest.mark.parametrize(
    ("label", "start"),
    [
        ("2026-W01", datetime(2025, 12, 29, tzinfo=UTC)),  # week 1 starts in the old year
        ("2026-W53", datetime(2026, 12, 28, tzinfo=UTC)),  # 2026 has 53 ISO weeks
        ("2027-W01", datetime(2027, 1, 4, tzinfo=UTC)),
    ],
)
def test_year_boundaries(label, start):
    assert iso_week(label).start == start


@pytest.mark.parametrize("label", ["2026-46", "2026-W00", "2025-W53", "W46", "", "2026-W4"])
def test_bad_periods_are_refused(label):
    with pytest.raises(InvalidPeriod):
        iso_week(label)


def test_a_month_end_inside_a_week_does_not_split_it():
    # Saturday 31 October 2026 and Sunday 1 November are in the same ISO week.
    assert week_of(datetime(2026, 10, 31, 23, 59, tzinfo=UTC)).label == "2026-W44"
    assert week_of(datetime(2026, 11, 1, 0, 0, tzinfo=UTC)).label == "2026-W44"
    assert week_of(datetime(2026, 11, 2, 0, 0, tzinfo=UTC)).label == "2026-W45"


def test_local_times_are_placed_by_their_utc_instant_across_dst():
    # New York leaves DST on Sunday 1 November 2026 at 02:00 local.
    late_sunday_edt = datetime(2026, 11, 1, 20, 30, tzinfo=NY)  # 01:30 UTC Monday (EST)
    assert late_sunday_edt.utcoffset() == timedelta(hours=-5)
    assert week_of(late_sunday_edt).label == "2026-W45"
    before_switch = datetime(2026, 11, 1, 1, 30, tzinfo=NY)  # EDT, 05:30 UTC Sunday
    assert week_of(before_switch).label == "2026-W44"
    # Spring forward, 8 March 2026: the week is still exactly 7 * 24 hours in UTC.
    week = week_of(datetime(2026, 3, 8, 12, tzinfo=NY))
    assert week.end - week.start == timedelta(days=7)


@pytest.mark.parametrize(
    ("frozen", "expected"),
    [
        ("2026-11-16T03:00:00Z", "2026-W46"),  # the scheduled Monday run
        ("2026-11-16T00:00:00Z", "2026-W46"),  # the first instant of the new week
        ("2026-11-15T23:59:59Z", "2026-W45"),  # still inside W46: the week before is W45
        ("2026-01-05T03:00:00Z", "2026-W01"),
        ("2027-01-04T03:00:00Z", "2026-W53"),
        ("2026-03-09T03:00:00Z", "2026-W10"),  # the Monday after the spring DST change
    ],
)
def test_previous_week_at_frozen_times(frozen, expected):
    with freeze_time(frozen):
        assert previous_week(datetime.now(UTC)).label == expected


def test_naive_times_are_refused():
    with pytest.raises(InvalidPeriod):
        week_of(datetime(2026, 11, 16))
