"""Attribution counts a purchase where the statements do: in the period in which its cashback
was booked as posted in the ledger, not when the purchase happened. Worked example, with the
numbers written out, on SQLite and PostgreSQL, through the production ingest pipeline and the
settlement runner.

Offer 11 at Blue Bottle: 5% back, 20% commission on the reward (a 200 reward bills 250).
- Tue 2026-11-10 (W46): a $100.00 purchase cleared at once: 500 cashback, 125 commission.
- Thu 2026-11-12 (W46): an auth of $40.00 (200 pending), cleared Tue 2026-11-17 (W47).
W46 counts one purchase ($100.00), W47 the other ($40.00): in the statements and in the
attribution report alike. By the time of purchase both would have been W46.
"""

from __future__ import annotations

from datetime import UTC, datetime

from service.attribution.service import build_report, to_out
from settlement.runs.periods import iso_week
from tests.service.pipeline_world import PipelineWorld
from tests.settlement.test_booking_time import Billing, settle

W46, W47 = iso_week("2026-W46"), iso_week("2026-W47")
OFFER = 11


def at(day: int, hour: int) -> datetime:
    return datetime(2026, 11, day, hour, tzinfo=UTC)


def attribution(engine, period):
    with engine.connect() as conn:
        [row] = build_report(conn, period_start=period.start, period_end=period.end)
    return row


def test_a_late_clearing_moves_to_the_week_it_was_booked_in_both_reports(engine) -> None:
    w = PipelineWorld(engine)
    w.member(member_id=1)
    w.offer(offer_id=OFFER, starts_at=at(1, 0))
    events = [
        (w.event("clearing", card=1, amount=10_000, at=at(10, 12), ext="cleared"), at(10, 12)),
        (w.event("auth", card=1, amount=4_000, at=at(12, 18), ext="late"), at(12, 18)),
        # the clearing is dated on the purchase day, and booked when it arrives (W47)
        (
            w.event("clearing", card=1, amount=4_000, at=at(12, 18), original="late"),
            at(17, 10),
        ),
    ]
    for event, booked_at in events:
        [outcome] = w.ingest(event, now=booked_at)
        assert outcome.status == "accepted", outcome

    billing = Billing()
    _, line46, invoice46 = settle(engine, billing, W46, at(16, 3))
    _, line47, invoice47 = settle(engine, billing, W47, at(23, 3))
    row46, row47 = attribution(engine, W46), attribution(engine, W47)

    # W46: the $100.00 purchase: 500 + 125 = 625 billed
    assert (line46.qualified_count, line46.spend_amount, line46.cashback_amount) == (
        1,
        10_000,
        500,
    )
    assert invoice46 == 625
    assert (row46.qualified_events, row46.spend_amount) == (1, 10_000)
    assert (row46.cashback_amount, row46.commission_amount) == (500, 125)
    # W47: the $40.00 purchase, cleared in W47: 200 + 50 = 250 billed
    assert (line47.qualified_count, line47.spend_amount, line47.cashback_amount) == (
        1,
        4_000,
        200,
    )
    assert invoice47 == 250
    assert (row47.qualified_events, row47.spend_amount) == (1, 4_000)
    assert (row47.cashback_amount, row47.commission_amount) == (200, 50)
    assert row47.unique_members == 1

    out = to_out([row47], period_start=W47.start.date(), period_end=W47.end.date())
    assert out.counted_by == "booking_time"


def test_a_refund_counts_with_the_purchase_it_clawed_back(engine) -> None:
    """Refunds are reported with their purchase: a W46 purchase refunded in W47 shows its
    refund in W46's report (as known when the report is built), none in W47's."""
    w = PipelineWorld(engine)
    w.member(member_id=1)
    w.offer(offer_id=OFFER, starts_at=at(1, 0))
    for event, booked_at in (
        (w.event("clearing", card=1, amount=4_000, at=at(10, 12), ext="c"), at(10, 12)),
        (w.event("refund", card=1, amount=1_000, at=at(17, 9), original="c"), at(17, 9)),
    ):
        [outcome] = w.ingest(event, now=booked_at)
        assert outcome.status == "accepted", outcome
    row46 = attribution(engine, W46)
    # $40.00 at 5% = 200, a quarter refunded: 50 clawed back, 150 net
    assert (row46.qualified_events, row46.refund_count, row46.refund_amount) == (1, 1, 1_000)
    assert row46.cashback_amount == 150
    row47 = attribution(engine, W47)
    assert (row47.qualified_events, row47.refund_count) == (0, 0)
