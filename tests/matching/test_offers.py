import hashlib
from datetime import UTC, datetime

import pytest

from matching.offers import (
    CommissionBase,
    DayPart,
    OfferKind,
    RewardType,
    commission_for,
    in_holdout,
    reward_for_amount,
)
from tests.matching.factories import JAN_1, MONDAY_NOON_NY, make_offer

WEEKDAYS = frozenset(range(5))
EVERY_DAY = frozenset(range(7))
# Monday 2024-06-03 11:00-14:00 New York (EDT), double cashback
LUNCH_DOUBLE = DayPart(WEEKDAYS, 11 * 60, 14 * 60, multiplier_bps=20_000)


def test_40_dollars_at_5_percent_is_200_cents() -> None:
    assert reward_for_amount(make_offer(rate_bps=500), 4_000, MONDAY_NOON_NY) == 200


def test_fixed_reward_ignores_the_amount() -> None:
    offer = make_offer(reward_type=RewardType.FIXED, reward_amount=500)
    assert reward_for_amount(offer, 4_000, MONDAY_NOON_NY) == 500
    assert reward_for_amount(offer, 1, MONDAY_NOON_NY) == 500


def test_100_dollars_at_10_percent_capped_at_7_50() -> None:
    offer = make_offer(rate_bps=1_000, max_reward_amount=750)
    assert reward_for_amount(offer, 10_000, MONDAY_NOON_NY) == 750  # 1000 capped to 750
    assert reward_for_amount(offer, 5_000, MONDAY_NOON_NY) == 500  # under the cap


def test_bonus_window_doubles_40_dollars_at_5_percent_to_400_cents() -> None:
    offer = make_offer(bonus_windows=(LUNCH_DOUBLE,))
    assert reward_for_amount(offer, 4_000, MONDAY_NOON_NY) == 400  # 12:00 local: in window
    evening = datetime(2024, 6, 3, 22, 0, tzinfo=UTC)  # 18:00 local
    assert reward_for_amount(offer, 4_000, evening) == 200


def test_first_matching_bonus_window_applies() -> None:
    triple = DayPart(EVERY_DAY, 0, 1_440, multiplier_bps=30_000)
    offer = make_offer(bonus_windows=(LUNCH_DOUBLE, triple))
    assert reward_for_amount(offer, 4_000, MONDAY_NOON_NY) == 400  # double, not triple


def test_birthday_month_adds_50_percent_200_becomes_300() -> None:
    offer = make_offer(birthday_bonus_bps=5_000)
    assert reward_for_amount(offer, 4_000, MONDAY_NOON_NY, birth_month=6) == 300
    assert reward_for_amount(offer, 4_000, MONDAY_NOON_NY, birth_month=7) == 200
    assert reward_for_amount(offer, 4_000, MONDAY_NOON_NY) == 200


def test_birthday_month_is_the_merchants_calendar_month() -> None:
    offer = make_offer(birthday_bonus_bps=5_000)
    # 2024-04-01 02:00 UTC is still 31 March, 22:00 in New York
    late_march_local = datetime(2024, 4, 1, 2, 0, tzinfo=UTC)
    assert reward_for_amount(offer, 4_000, late_march_local, birth_month=3) == 300
    assert reward_for_amount(offer, 4_000, late_march_local, birth_month=4) == 200


def test_bonus_then_birthday_then_cap() -> None:
    # 200 x 2 (lunch) x 1.5 (birthday) = 600, then capped at 500
    offer = make_offer(bonus_windows=(LUNCH_DOUBLE,), birthday_bonus_bps=5_000)
    assert reward_for_amount(offer, 4_000, MONDAY_NOON_NY, birth_month=6) == 600
    capped = make_offer(
        bonus_windows=(LUNCH_DOUBLE,), birthday_bonus_bps=5_000, max_reward_amount=500
    )
    assert reward_for_amount(capped, 4_000, MONDAY_NOON_NY, birth_month=6) == 500


def test_reward_is_rounded_once_not_at_every_step() -> None:
    # $12.50 at 1% = 12.5 cents; with a triple bonus 37.5 -> 38.
    # Rounding first would give 12 (half-even) x 3 = 36.
    triple = DayPart(EVERY_DAY, 0, 1_440, multiplier_bps=30_000)
    offer = make_offer(rate_bps=100, bonus_windows=(triple,))
    assert reward_for_amount(offer, 1_250, MONDAY_NOON_NY) == 38


def test_fixed_reward_with_bonus_and_birthday() -> None:
    # $5.00 fixed x 2 x 1.25 = $12.50
    offer = make_offer(
        reward_type=RewardType.FIXED,
        reward_amount=500,
        bonus_windows=(LUNCH_DOUBLE,),
        birthday_bonus_bps=2_500,
    )
    assert reward_for_amount(offer, 4_000, MONDAY_NOON_NY, birth_month=6) == 1_250


def test_commission_20_percent_on_a_200_cent_reward_is_50() -> None:
    # The merchant pays 250: 200 to the member, 50 (20% of 250) to the platform.
    offer = make_offer(commission_bps=2_000, commission_base=CommissionBase.REWARD)
    assert commission_for(offer, 4_000, 200) == 50


def test_commission_2_percent_of_40_dollars_spend_is_80() -> None:
    offer = make_offer(commission_bps=200, commission_base=CommissionBase.SPEND)
    assert commission_for(offer, 4_000, 200) == 80


def test_commission_rounds_half_even() -> None:
    # 2.5% on a 1,234 cent reward: 1,234 x 250 / 9,750 = 31.64 -> 32
    assert commission_for(make_offer(commission_bps=250), 0, 1_234) == 32
    # 20% on 10: 10 x 2,000 / 8,000 = 2.5 -> 2 and on 14: 3.5 -> 4 (ties to even)
    assert commission_for(make_offer(commission_bps=2_000), 0, 10) == 2
    assert commission_for(make_offer(commission_bps=2_000), 0, 14) == 4
    # 10% of a 25 cent spend = 2.5 -> 2
    spend = make_offer(commission_bps=1_000, commission_base=CommissionBase.SPEND)
    assert commission_for(spend, 25, 0) == 2


def _expected_holdout(offer_id: int, member_id: int, holdout_bps: int) -> bool:
    digest = hashlib.sha256(f"{offer_id}:{member_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % 10_000 < holdout_bps


def test_holdout_is_the_documented_hash() -> None:
    # sha256("1:1")[:8] mod 10,000 = 283; sha256("7:42") -> 7451. Pinned so a change in the
    # assignment (which would reshuffle every control group) cannot pass unnoticed.
    assert in_holdout(1, 1, 284) and not in_holdout(1, 1, 283)
    assert in_holdout(7, 42, 7_452) and not in_holdout(7, 42, 7_451)
    for member_id in range(200):
        assert in_holdout(5, member_id, 2_500) == _expected_holdout(5, member_id, 2_500)


def test_holdout_share_is_about_holdout_bps_over_10000_members() -> None:
    # 10% of 10,000 members = 1,000 expected; sd = sqrt(10,000 x 0.1 x 0.9) = 30; allow 5 sd
    held = sum(in_holdout(77, member_id, 1_000) for member_id in range(10_000))
    assert 850 <= held <= 1_150
    assert held == sum(in_holdout(77, member_id, 1_000) for member_id in range(10_000))


def test_holdout_extremes() -> None:
    assert not any(in_holdout(1, member_id, 0) for member_id in range(1_000))
    assert all(in_holdout(1, member_id, 10_000) for member_id in range(1_000))


def test_holdout_groups_differ_between_offers() -> None:
    group_a = {m for m in range(2_000) if in_holdout(1, m, 5_000)}
    group_b = {m for m in range(2_000) if in_holdout(2, m, 5_000)}
    assert group_a != group_b


@pytest.mark.parametrize(
    ("weekdays", "start", "end"),
    [(frozenset(), 0, 60), (frozenset({7}), 0, 60), (WEEKDAYS, 60, 60), (WEEKDAYS, -1, 60),
     (WEEKDAYS, 0, 1_441)],
)  # fmt: skip
def test_day_part_validation(weekdays: frozenset[int], start: int, end: int) -> None:
    with pytest.raises(ValueError):
        DayPart(weekdays, start, end)


def test_whole_day_part_is_valid() -> None:
    assert DayPart(EVERY_DAY, 0, 1_440).contains(MONDAY_NOON_NY)


@pytest.mark.parametrize(
    "overrides",
    [
        {"currency": "XXX"},
        {"starts_at": datetime(2024, 1, 1)},
        {"ends_at": JAN_1},
        {"created_at": datetime(2024, 1, 1)},
        {"rate_bps": -1},
        {"max_reward_amount": -1},
        {"holdout_bps": 10_001},
        {"kind": OfferKind.STAMP_CARD, "stamp_every_n": None},
        {"kind": OfferKind.STAMP_CARD, "stamp_every_n": 0},
        {"kind": OfferKind.SPEND_THRESHOLD, "threshold_amount": None},
        {"timezone": "Mars/Olympus_Mons"},
    ],
)
def test_offer_rules_refuse_impossible_values(overrides: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        make_offer(**overrides)
