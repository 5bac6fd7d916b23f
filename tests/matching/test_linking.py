from datetime import timedelta

import pytest

from matching.events import CardEvent, EventKind
from matching.linking import OpenAuth, link_clearing_to_auth
from tests.matching.factories import BRAND, MONDAY_NOON_NY, make_event

HOUR = timedelta(hours=1)


def auth(
    external_id: str = "a-1",
    *,
    card_id: int = 1,
    brand_id: int | None = BRAND,
    amount: int = 4_000,
    currency: str = "USD",
    hours_before: float = 2,
) -> OpenAuth:
    occurred_at = MONDAY_NOON_NY - timedelta(hours=hours_before)
    return OpenAuth(external_id, card_id, brand_id, amount, currency, occurred_at)


def clearing(amount: int = 4_000, original: str | None = None) -> CardEvent:
    return make_event(
        kind=EventKind.CLEARING, external_id="c-1", amount=amount, original_external_id=original
    )


def test_linked_by_original_external_id_whatever_the_amount_and_brand() -> None:
    named = auth("a-7", amount=100, brand_id=99)
    found = link_clearing_to_auth(clearing(original="a-7"), BRAND, [auth("a-1"), named])
    assert found is named


def test_unknown_original_falls_back_to_the_heuristic() -> None:
    candidate = auth("a-1")
    assert link_clearing_to_auth(clearing(original="gone"), BRAND, [candidate]) is candidate


@pytest.mark.parametrize(
    ("cleared_amount", "linked"),
    [
        (4_000, True),  # same amount
        (4_800, True),  # $40.00 auth + $8.00 tip = 20%
        (5_000, True),  # +25% exactly: the default tolerance of 2,500 bps
        (5_001, False),  # +25.025%
        (3_000, True),  # -25%: partial shipment
        (2_999, False),
    ],
)
def test_amount_tolerance_25_percent(cleared_amount: int, linked: bool) -> None:
    candidate = auth(amount=4_000)
    found = link_clearing_to_auth(clearing(cleared_amount), BRAND, [candidate])
    assert (found is candidate) is linked


def test_narrower_tolerance() -> None:
    # 4,100 against 4,000 is 250 bps off: linked at 250, not at 249
    candidate = auth(amount=4_000)
    assert link_clearing_to_auth(clearing(4_100), BRAND, [candidate], tolerance_bps=250)
    assert not link_clearing_to_auth(clearing(4_100), BRAND, [candidate], tolerance_bps=249)


def test_closest_amount_wins_then_the_latest() -> None:
    far = auth("far", amount=3_500, hours_before=1)
    near_old = auth("near-old", amount=4_100, hours_before=5)
    near_new = auth("near-new", amount=3_900, hours_before=3)
    found = link_clearing_to_auth(clearing(4_000), BRAND, [far, near_old, near_new])
    assert found is near_new


@pytest.mark.parametrize(
    "other",
    [
        auth(card_id=2),
        auth(brand_id=11),
        auth(brand_id=None),
        auth(currency="EUR"),
        auth(hours_before=-1),  # after the clearing
        auth(hours_before=10 * 24 + 1),  # older than the 10-day window
    ],
)
def test_no_link_across_card_brand_currency_or_time(other: OpenAuth) -> None:
    assert link_clearing_to_auth(clearing(), BRAND, [other]) is None


def test_window_edge_is_inclusive() -> None:
    edge = auth(hours_before=10 * 24)
    assert link_clearing_to_auth(clearing(), BRAND, [edge]) is edge
    assert link_clearing_to_auth(clearing(), BRAND, [edge], window_days=9) is None


def test_unknown_brand_never_links_by_heuristic() -> None:
    assert link_clearing_to_auth(clearing(), None, [auth(brand_id=None)]) is None


def test_nothing_open() -> None:
    assert link_clearing_to_auth(clearing(original="a-1"), BRAND, []) is None
