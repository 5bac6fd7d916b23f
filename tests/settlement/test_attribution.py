"""The attribution report: worked examples with the numbers written out, SQLite and PostgreSQL.

Events go through the production ingest pipeline (`PipelineWorld`), so rewards, clawbacks and
holdout decisions are the real ones; the report is then built from the database.
"""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import insert

from matching.offers import in_holdout
from service.attribution.service import TooManyOffers, build_report, report_to_dicts
from service.tables import Card, Member
from settlement.attribution import (
    CSV_COLUMNS,
    ActivationTotals,
    OfferFacts,
    RefundTotals,
    RewardTotals,
    assemble,
    pre_period,
    ratio_bps,
    report_to_csv,
)
from settlement.lift import cuped_lift
from tests.service.pipeline_world import PipelineWorld

P0 = datetime(2026, 10, 1, tzinfo=UTC)
P1 = datetime(2026, 11, 1, tzinfo=UTC)


def day(month: int, d: int, hour: int = 15) -> datetime:
    return datetime(2026, month, d, hour, tzinfo=UTC)


# -- pure assembly -----------------------------------------------------------------------------
def test_assemble_worked_example_without_holdout():
    offer = OfferFacts(10, 1, "5% back", "USD", 0, day(9, 5))
    row = assemble(
        offer,
        period_start=P0,
        period_end=P1,
        rewards=RewardTotals(
            qualified_events=2,
            spend_amount=10_000,
            refunded_spend_amount=1_000,
            reward_amount=500,
            clawed_reward_amount=50,
            commission_amount=100,
            clawed_commission_amount=10,
            unique_members=2,
            returning_members=1,
        ),
        activations=ActivationTotals(activations=3, converted_members=2),
        refunds=RefundTotals(refund_count=1, refund_amount=1_000),
        holdout=None,
    )
    assert row.net_spend_amount == 9_000  # 10,000 - 1,000
    assert row.cashback_amount == 450  # 500 - 50
    assert row.commission_amount == 90  # 100 - 10
    assert (row.new_members, row.returning_members) == (1, 1)
    assert row.conversion_bps == 6_667  # 2 / 3 = 0.66667
    assert row.return_on_spend_bps == 166_667  # 9,000 / (450 + 90) = 16.6667x
    assert row.holdout is None


def test_ratios_without_a_denominator_are_none():
    assert ratio_bps(0, 0) is None
    assert ratio_bps(1, 8) == 1_250
    assert ratio_bps(1, 20_000) == 0  # 0.5 bps, ties to even


def test_pre_period_is_as_long_as_the_period_and_ends_at_the_offer_start():
    assert pre_period(P0, P0, P1) == (datetime(2026, 8, 31, tzinfo=UTC), P0)


def test_csv_neutralises_formulas_in_titles():
    offer = OfferFacts(1, 1, "=HYPERLINK(1)", "USD", 0, P0)
    row = assemble(
        offer,
        period_start=P0,
        period_end=P1,
        rewards=RewardTotals(),
        activations=ActivationTotals(),
        refunds=RefundTotals(),
        holdout=None,
    )
    parsed = list(csv.DictReader(io.StringIO(report_to_csv([row]))))
    assert parsed[0]["title"] == "'=HYPERLINK(1)"
    assert parsed[0]["conversion_bps"] == "" and parsed[0]["lift_method"] == ""


# -- from the database -------------------------------------------------------------------------
@pytest.fixture
def world(engine) -> PipelineWorld:
    return build_world(engine)


def build_world(engine) -> PipelineWorld:
    """Offer 10 at Blue Bottle (merchant 1): activation required, no holdout.
    Offer 30 at Other Shop (merchant 2): from P0, holdout 5,000 bps (control: members 1, 3).
    """
    w = PipelineWorld(engine)
    for m in range(1, 8):
        w.member(member_id=m)
    with engine.begin() as conn:  # member 8 links a card only after the period
        conn.execute(
            insert(Member.__table__).values(id=8, display_name="m8", created_at=day(11, 5))
        )
        conn.execute(
            insert(Card.__table__).values(
                id=8,
                member_id=8,
                provider="publisher",
                provider_token="tok8",
                fingerprint="fp8",
                brand="visa",
                last4="4242",
                status="active",
                created_at=day(11, 5),
            )
        )
    w.offer(offer_id=10, activation_required=True, starts_at=day(9, 5))
    w.offer(offer_id=30, merchant_id=2, holdout_bps=5_000, starts_at=P0)
    w.offer(offer_id=31, merchant_id=2, status="draft", starts_at=P0)
    w.offer(offer_id=32, merchant_id=2, status="ended", starts_at=day(8, 1), ends_at=day(9, 1))
    assert [m for m in range(1, 9) if in_holdout(30, m, 5_000)] == [1, 3, 8]
    w.activate(5, 10, day(9, 25))  # before the period: not counted
    w.activate(1, 10, day(10, 2))
    w.activate(2, 10, day(10, 3))
    w.activate(3, 10, day(10, 4))  # never buys

    bb, ot = "MID-BB-1", "MID-OT-1"
    events = [
        # Blue Bottle
        w.event("auth", card=1, amount=2_000, at=day(9, 20), mid=bb, ext="b1a"),  # returning
        w.event("clearing", card=1, amount=2_000, at=day(9, 21), mid=bb, original="b1a"),
        w.event("auth", card=1, amount=4_000, at=day(10, 5), mid=bb, ext="b2a"),
        w.event("clearing", card=1, amount=4_000, at=day(10, 6), mid=bb, ext="b2c", original="b2a"),
        w.event("refund", card=1, amount=1_000, at=day(10, 10), mid=bb, original="b2c"),
        w.event("clearing", card=2, amount=6_000, at=day(10, 6), mid=bb),
        w.event("clearing", card=4, amount=3_000, at=day(10, 8), mid=bb),  # not activated
        w.event("clearing", card=6, amount=4_000, at=day(10, 11), mid=bb),  # not activated
        w.event("clearing", card=2, amount=5_000, at=day(11, 2), mid=bb),  # after the period
        # Other Shop, pre-period [Aug 31, Oct 1)
        w.event("clearing", card=1, amount=2_000, at=day(9, 10), mid=ot),
        w.event("clearing", card=2, amount=1_000, at=day(9, 12), mid=ot),
        w.event("clearing", card=5, amount=3_000, at=day(9, 15), mid=ot, ext="o5pre"),
        w.event("clearing", card=3, amount=1_500, at=day(9, 20), mid=ot),
        w.event("clearing", card=7, amount=2_500, at=day(9, 22), mid=ot),
        # Other Shop, the period
        w.event("refund", card=5, amount=1_000, at=day(10, 3), mid=ot, original="o5pre"),
        w.event("clearing", card=2, amount=2_500, at=day(10, 5), mid=ot),
        w.event("clearing", card=4, amount=2_000, at=day(10, 7), mid=ot, ext="o4"),
        w.event("refund", card=4, amount=500, at=day(10, 9), mid=ot, original="o4"),
        w.event("clearing", card=1, amount=3_000, at=day(10, 10), mid=ot),  # control
        w.event("clearing", card=3, amount=1_000, at=day(10, 12), mid=ot),  # control
        w.event("clearing", card=5, amount=5_000, at=day(10, 15), mid=ot),
        w.event("clearing", card=2, amount=1_500, at=day(10, 20), mid=ot),
        w.event("auth", card=6, amount=700, at=day(10, 25), mid=ot),  # never cleared
        w.event("clearing", card=1, amount=3_000, at=day(11, 2), mid=ot),  # after the period
    ]
    for ev in sorted(events, key=lambda e: e["occurred_at"]):
        [outcome] = w.ingest(ev, now=datetime.fromisoformat(ev["occurred_at"]))
        assert outcome.status == "accepted", outcome
    w.assert_balanced()
    return w


def report(engine, **kw):
    with engine.connect() as conn:
        return {r.offer_id: r for r in build_report(conn, period_start=P0, period_end=P1, **kw)}


def test_offer_without_holdout_worked_example(world, engine):
    row = report(engine)[10]
    assert (row.merchant_id, row.currency, row.title) == (1, "USD", "offer 10")
    # members 1, 2, 3 activated in October (member 5 in September); 1 and 2 then bought
    assert (row.activations, row.converted_members, row.conversion_bps) == (3, 2, 6_667)
    # rewarded: member 1 $40.00, member 2 $60.00: 5% back; commission 20% of what the
    # merchant pays, i.e. reward x 2,000 / 8,000 (a 200 reward bills 250)
    assert row.qualified_events == 2
    assert row.spend_amount == 10_000  # 4,000 + 6,000
    assert row.refunded_spend_amount == 1_000
    assert row.net_spend_amount == 9_000
    assert row.cashback_amount == 450  # 200 + 300 - 50 clawed for the 1,000 refund
    assert row.commission_amount == 113  # 50 + 75 - 12 (12.5 clawed, half-even)
    assert row.return_on_spend_bps == 159_858  # 9,000 / (450 + 113) = 15.9858x
    # member 1 had bought at Blue Bottle in September: returning; member 2 is new
    assert (row.unique_members, row.new_members, row.returning_members) == (2, 1, 1)
    assert (row.refund_count, row.refund_amount) == (1, 1_000)
    assert row.holdout is None


def test_offer_with_holdout_worked_example(world, engine):
    rows = report(engine)
    assert sorted(rows) == [10, 30]  # 31 is a draft, 32 ended before the period
    row = rows[30]
    # rewarded (treatment only): m2 2,500 and 1,500; m4 2,000 (500 refunded); m5 5,000.
    # m6's auth of 700 is still pending: nothing booked as posted, so it counts in no period
    # yet (by booking time, as the statements). 5% back, commission reward x 2,000 / 8,000.
    assert row.qualified_events == 4
    assert row.spend_amount == 11_000
    assert row.net_spend_amount == 10_500
    assert row.cashback_amount == 525  # 125 + 75 + 100 + 250 - 25
    assert row.commission_amount == 131  # 31 + 19 + 25 + 62 - 6 (6.25 clawed)
    assert row.return_on_spend_bps == 160_061  # 10,500 / (525 + 131) = 16.0061x
    # m2 and m5 bought at Other Shop in September
    assert (row.unique_members, row.new_members, row.returning_members) == (3, 1, 2)
    assert (row.refund_count, row.refund_amount) == (1, 500)  # m5's refund was not rewarded
    assert (row.activations, row.conversion_bps) == (0, None)

    h = row.holdout
    assert h is not None and h.holdout_bps == 5_000
    assert (h.pre_period_start, h.pre_period_end) == (datetime(2026, 8, 31, tzinfo=UTC), P0)
    # population: members 1..7 (member 8 linked a card after the period); control 1 and 3
    # period spend, cleared at Other Shop less refunds (auths and other brands do not count):
    #   treatment m2 4,000  m4 1,500  m5 5,000 - 1,000 = 4,000  m6 0  m7 0   total 9,500
    #   control   m1 3,000  m3 1,000                                         total 4,000
    assert (h.treatment.members, h.treatment.spend_amount) == (5, 9_500)
    assert (h.control.members, h.control.spend_amount) == (2, 4_000)
    assert (h.treatment.spend_per_member_amount, h.control.spend_per_member_amount) == (
        1_900,
        2_000,
    )
    # pre-period X: treatment 1,000 0 3,000 0 2,500 (mean 1,300); control 2,000 1,500 (1,750)
    # theta = cov(Y, X) / var(X) pooled = (29,500,000/7) / (57,500,000/7) = 59/115
    # CUPED lift = (1,900 - 2,000) - 59/115 (1,300 - 1,750) = -100 + 230.87 = 130.87
    lift = h.lift
    assert lift is not None
    assert lift.cuped_theta == pytest.approx(59 / 115)
    assert lift.absolute_lift == pytest.approx(-100 + 59 / 115 * 450)
    assert lift.method.endswith("CUPED-adjusted on pre-period spend")
    assert (lift.treatment_n, lift.control_n) == (5, 2)
    expected = cuped_lift([4_000, 1_500, 4_000, 0, 0], [3_000, 1_000], [1_000, 0, 3_000, 0, 2_500],
                          [2_000, 1_500])  # fmt: skip
    assert lift == expected


def test_csv_has_a_line_per_offer(world, engine):
    with engine.connect() as conn:
        rows = build_report(conn, period_start=P0, period_end=P1)
    text = report_to_csv(rows)
    parsed = list(csv.DictReader(io.StringIO(text)))
    assert list(parsed[0]) == list(CSV_COLUMNS)
    assert [r["offer_id"] for r in parsed] == ["10", "30"]
    assert parsed[0]["cashback_amount"] == "450" and parsed[0]["holdout_bps"] == ""
    assert parsed[1]["treatment_spend_amount"] == "9500"
    assert parsed[1]["lift_per_member_amount"] == "131"
    assert parsed[1]["period_start"] == "2026-10-01T00:00:00+00:00"
    dicts = report_to_dicts(rows)
    assert json.loads(json.dumps(dicts)) == dicts
    assert dicts[1]["holdout"]["lift"]["lift_per_member_amount"] == 131


def test_scoping_and_selection(world, engine):
    assert sorted(report(engine, merchant_id=2)) == [30]
    assert sorted(report(engine, merchant_id=1)) == [10]
    assert sorted(report(engine, offer_ids=[31])) == [31]  # asked for by id: even a draft
    assert report(engine, offer_ids=[10], merchant_id=2) == {}
    assert report(engine, offer_ids=[999]) == {}
    with engine.connect() as conn, pytest.raises(TooManyOffers):
        build_report(conn, period_start=P0, period_end=P1, max_offers=1)


def test_a_quiet_period_reports_zeros(world, engine):
    start = datetime(2026, 12, 1, tzinfo=UTC)
    with engine.connect() as conn:
        [row] = build_report(
            conn, period_start=start, period_end=start + timedelta(days=31), offer_ids=[30]
        )
    assert (row.qualified_events, row.spend_amount, row.cashback_amount) == (0, 0, 0)
    assert row.return_on_spend_bps is None
    h = row.holdout
    assert h is not None and (h.treatment.members, h.control.members) == (5, 3)  # with m8
    assert h.lift is not None and h.lift.absolute_lift == 0 and h.lift.relative_lift is None


def test_naive_or_empty_periods_are_refused(engine):
    with engine.connect() as conn:
        with pytest.raises(ValueError):
            build_report(conn, period_start=P1, period_end=P0)
        with pytest.raises(ValueError):
            build_report(conn, period_start=P0.replace(tzinfo=None), period_end=P1)
