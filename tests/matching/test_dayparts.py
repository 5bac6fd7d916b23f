"""Day parts and bonus windows on the merchant's wall clock, across DST changes.

New York: EST is UTC-5, EDT is UTC-4. In 2024 clocks went forward on Sunday 10 March at
02:00 and back on Sunday 3 November at 02:00.
"""

from datetime import UTC, datetime

import pytest

from matching.match import Reason, match
from matching.offers import DayPart, OfferRules, reward_for_amount
from tests.matching.factories import make_ctx, make_event, make_offer

EVERY_DAY = frozenset(range(7))
HAPPY_HOUR = DayPart(EVERY_DAY, 17 * 60, 19 * 60)  # 17:00-19:00 local
HAPPY_HOUR_OFFER = make_offer(timezone="America/New_York", dayparts=(HAPPY_HOUR,))


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def reason_at(moment: datetime, offer: OfferRules = HAPPY_HOUR_OFFER) -> Reason:
    (decision,) = match(make_event(occurred_at=moment), [offer], make_ctx()).decisions
    return decision.reason


@pytest.mark.parametrize(
    ("moment", "local", "reason"),
    [
        # March: Saturday 9th is EST, Monday 11th is EDT: 17:30 local is 22:30Z then 21:30Z
        (utc(2024, 3, 9, 22, 30), "Sat 17:30 EST", Reason.QUALIFIED),
        (utc(2024, 3, 11, 21, 30), "Mon 17:30 EDT", Reason.QUALIFIED),
        (utc(2024, 3, 9, 21, 30), "Sat 16:30 EST", Reason.DAYPART),
        (utc(2024, 3, 11, 23, 30), "Mon 19:30 EDT", Reason.DAYPART),
        (utc(2024, 3, 10, 21, 30), "Sun 17:30 EDT, the day of the change", Reason.QUALIFIED),
        (utc(2024, 3, 10, 23, 0), "Sun 19:00 EDT: end is exclusive", Reason.DAYPART),
        # November: Saturday 2nd is EDT, Monday 4th is EST: 17:30 local is 21:30Z then 22:30Z
        (utc(2024, 11, 2, 21, 30), "Sat 17:30 EDT", Reason.QUALIFIED),
        (utc(2024, 11, 4, 22, 30), "Mon 17:30 EST", Reason.QUALIFIED),
        (utc(2024, 11, 4, 21, 30), "Mon 16:30 EST", Reason.DAYPART),
        (utc(2024, 11, 2, 23, 30), "Sat 19:30 EDT", Reason.DAYPART),
        (utc(2024, 11, 3, 22, 0), "Sun 17:00 EST, the day of the change", Reason.QUALIFIED),
    ],
)
def test_happy_hour_across_dst(moment: datetime, local: str, reason: Reason) -> None:
    assert reason_at(moment) is reason, local


def test_hour_repeated_in_november_matches_both_times() -> None:
    # 01:00-02:00 happens twice on 3 November: 05:30Z is 01:30 EDT, 06:30Z is 01:30 EST
    night = make_offer(dayparts=(DayPart(EVERY_DAY, 60, 120),))
    assert reason_at(utc(2024, 11, 3, 5, 30), night) is Reason.QUALIFIED
    assert reason_at(utc(2024, 11, 3, 6, 30), night) is Reason.QUALIFIED
    assert reason_at(utc(2024, 11, 3, 7, 30), night) is Reason.DAYPART  # 02:30 EST


def test_hour_skipped_in_march_never_matches() -> None:
    # 02:00-03:00 does not exist on 10 March: 06:59Z is 01:59 EST, 07:00Z is 03:00 EDT
    skipped = make_offer(dayparts=(DayPart(EVERY_DAY, 120, 180),))
    assert reason_at(utc(2024, 3, 10, 6, 59), skipped) is Reason.DAYPART
    assert reason_at(utc(2024, 3, 10, 7, 0), skipped) is Reason.DAYPART
    assert reason_at(utc(2024, 3, 9, 7, 30), skipped) is Reason.QUALIFIED  # Sat 02:30 EST


def test_weekday_is_the_local_weekday() -> None:
    # Friday 23:30 in New York is already Saturday 03:30 UTC (EDT)
    late_weekdays = make_offer(dayparts=(DayPart(frozenset(range(5)), 20 * 60, 24 * 60),))
    assert reason_at(utc(2024, 6, 8, 3, 30), late_weekdays) is Reason.QUALIFIED
    assert reason_at(utc(2024, 6, 9, 3, 30), late_weekdays) is Reason.DAYPART  # Sat 23:30


def test_any_of_several_day_parts() -> None:
    lunch = DayPart(EVERY_DAY, 11 * 60, 14 * 60)
    offer = make_offer(dayparts=(lunch, HAPPY_HOUR))
    assert reason_at(utc(2024, 6, 3, 16, 0), offer) is Reason.QUALIFIED  # 12:00 EDT
    assert reason_at(utc(2024, 6, 3, 21, 30), offer) is Reason.QUALIFIED  # 17:30 EDT
    assert reason_at(utc(2024, 6, 3, 19, 0), offer) is Reason.DAYPART  # 15:00 EDT


def test_other_time_zone() -> None:
    tokyo = make_offer(timezone="Asia/Tokyo", dayparts=(HAPPY_HOUR,))
    assert reason_at(utc(2024, 6, 3, 8, 30), tokyo) is Reason.QUALIFIED  # 17:30 JST
    assert reason_at(utc(2024, 6, 3, 21, 30), tokyo) is Reason.DAYPART  # 06:30 JST


@pytest.mark.parametrize(
    ("moment", "expected"),
    [
        (utc(2024, 3, 8, 20, 0), 400),  # Fri 15:00 EST: double
        (utc(2024, 3, 11, 19, 0), 400),  # Mon 15:00 EDT: double
        (utc(2024, 3, 11, 20, 0), 400),  # Mon 16:00 EDT: double
        (utc(2024, 3, 11, 21, 0), 200),  # Mon 17:00 EDT: window over
        (utc(2024, 3, 8, 19, 0), 400),  # Fri 14:00 EST: double
        (utc(2024, 3, 8, 18, 59), 200),  # Fri 13:59 EST: not yet
    ],
)
def test_off_peak_double_cashback_across_dst(moment: datetime, expected: int) -> None:
    # $40.00 at 5% = 200 cents; doubled to 400 on weekdays 14:00-17:00 local
    off_peak = DayPart(frozenset(range(5)), 14 * 60, 17 * 60, multiplier_bps=20_000)
    offer = make_offer(bonus_windows=(off_peak,))
    assert reward_for_amount(offer, 4_000, moment) == expected
    winner = match(make_event(occurred_at=moment), [offer], make_ctx()).winner
    assert winner is not None and winner.reward_amount == expected
