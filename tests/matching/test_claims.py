"""Which card event is a claimed purchase, and when a claimed day lies in an offer's window."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

from matching.claims import (
    AcceptedClaim,
    claim_covers,
    claimed_purchase_at,
    covering_claim,
)
from matching.events import CardEvent, Channel, EventKind, Source
from tests.matching.factories import make_offer

CLAIM = AcceptedClaim(
    claim_id=1,
    member_id=7,
    merchant_id=3,
    spend_amount=4_000,
    currency="USD",
    purchase_date=date(2026, 10, 5),
)


def event(amount: int = 4_000, at: datetime = datetime(2026, 10, 6, 15, tzinfo=UTC)) -> CardEvent:
    return CardEvent(
        Source.NETWORK, "e1", EventKind.AUTH, 1, amount, "USD", at, "MID-1", None, None, None,
        None, None, None, None, Channel.IN_STORE, None,
    )  # fmt: skip


def test_an_event_within_25_percent_and_3_days_is_the_claimed_purchase():
    assert claim_covers(CLAIM, 7, 3, event())
    # 4000 +- 25% is 3000..5000: both ends are in, one minor unit past is out.
    assert claim_covers(CLAIM, 7, 3, event(amount=5_000))
    assert claim_covers(CLAIM, 7, 3, event(amount=3_000))
    assert not claim_covers(CLAIM, 7, 3, event(amount=5_001))
    assert not claim_covers(CLAIM, 7, 3, event(amount=2_999))
    # Day 5 claimed: events on days 2..8 are it; day 9 is not.
    assert claim_covers(CLAIM, 7, 3, event(at=datetime(2026, 10, 8, 23, tzinfo=UTC)))
    assert claim_covers(CLAIM, 7, 3, event(at=datetime(2026, 10, 2, 0, tzinfo=UTC)))
    assert not claim_covers(CLAIM, 7, 3, event(at=datetime(2026, 10, 9, 0, tzinfo=UTC)))
    # Another member, merchant or currency never.
    assert not claim_covers(CLAIM, 8, 3, event())
    assert not claim_covers(CLAIM, 7, 4, event())
    assert not claim_covers(replace(CLAIM, currency="EUR"), 7, 3, event())


def test_the_closest_amount_then_day_wins():
    near = replace(CLAIM, claim_id=2, spend_amount=4_100)
    far_day = replace(CLAIM, claim_id=3, spend_amount=4_100, purchase_date=date(2026, 10, 3))
    assert covering_claim([CLAIM, near, far_day], 7, 3, event(amount=4_100)) == near
    assert covering_claim([far_day, CLAIM], 7, 3, event(amount=4_000)) == CLAIM
    assert covering_claim([CLAIM], 7, 3, event(amount=9_000)) is None


def test_a_claimed_day_is_priced_at_its_last_instant_inside_the_window():
    # New York: Oct 5 runs 04:00 UTC Oct 5 .. 04:00 UTC Oct 6.
    offer = make_offer(
        starts_at=datetime(2026, 10, 1, tzinfo=UTC), timezone="America/New_York", ends_at=None
    )
    end_of_day = datetime(2026, 10, 6, 4, tzinfo=UTC) - timedelta(microseconds=1)
    assert claimed_purchase_at(offer, date(2026, 10, 5)) == end_of_day
    # An offer ending at noon New York time that day: its last instant.
    noon = datetime(2026, 10, 5, 16, tzinfo=UTC)
    ending = replace(offer, ends_at=noon)
    assert claimed_purchase_at(ending, date(2026, 10, 5)) == noon - timedelta(microseconds=1)
    # The start (20:00 Sep 30 in New York) opens Sep 30; days before it or after the end
    # are outside the window.
    assert claimed_purchase_at(offer, date(2026, 9, 30)) == datetime(
        2026, 10, 1, 4, tzinfo=UTC
    ) - timedelta(microseconds=1)
    assert claimed_purchase_at(offer, date(2026, 9, 29)) is None
    assert claimed_purchase_at(ending, date(2026, 10, 6)) is None
