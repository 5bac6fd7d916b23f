"""When a batch's reservations cross 80% of a budget, or use it up (pure rule, numbers out)."""

from __future__ import annotations

from settlement.budget import Remaining, budget_alerts
from settlement.outbox import OutboxEventType as T


def left(budget: int, reserved: int) -> Remaining:
    return Remaining(budget - reserved, None, budget, None)


def test_crossing_80_percent_is_low():
    assert budget_alerts(left(10_000, 7_900), 100, 1) == [T.OFFER_BUDGET_LOW]


def test_crossing_both_at_once_is_low_then_exhausted():
    assert budget_alerts(left(10_000, 7_900), 2_100, 1) == [
        T.OFFER_BUDGET_LOW,
        T.OFFER_BUDGET_EXHAUSTED,
    ]


def test_already_low_is_not_told_again_and_a_release_crosses_nothing():
    assert budget_alerts(left(10_000, 8_000), 100, 1) == []
    assert budget_alerts(left(10_000, 8_100), -500, -1) == []


def test_the_last_redemption_exhausts_the_offer():
    assert budget_alerts(Remaining(None, 1, None, 50), 0, 1) == [T.OFFER_BUDGET_EXHAUSTED]
    assert budget_alerts(Remaining(None, 2, None, 50), 0, 1) == []
