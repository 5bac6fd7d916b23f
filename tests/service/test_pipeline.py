"""The ingest pipeline end to end, worked examples with the numbers written out."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from sqlalchemy import text

from tests.service.pipeline_world import T0, PipelineWorld


@pytest.fixture
def world(engine) -> PipelineWorld:
    w = PipelineWorld(engine)
    w.member(member_id=1)
    w.member(member_id=2)
    return w


def test_auth_then_clearing_posts_cashback(world):
    # $40.00 at 5% = 200 to the member; 20% commission on the reward: merchant owes 250.
    world.offer(offer_id=10)
    [auth] = world.ingest(world.event(card=1, amount=4_000, ext="a1"))
    assert (auth.status, auth.outcome, auth.reward_amount) == ("accepted", "rewarded", 200)
    assert world.balances()["member:1:pending:USD"] == (0, 200)
    [clr] = world.ingest(
        world.event(
            "clearing", card=1, amount=4_000, ext="c1", original="a1", at=T0 + timedelta(days=1)
        )
    )
    assert (clr.outcome, clr.reward_amount) == ("rewarded", 200)
    assert world.balances() == {
        "merchant:1:receivable:USD": (-250, 0),
        "member:1:pending:USD": (200, 0),
        "platform:revenue:USD": (50, 0),
    }
    world.assert_balanced()


def test_duplicate_returns_first_result_and_changes_nothing(world):
    world.offer(offer_id=10)
    [first] = world.ingest(world.event(card=1, amount=4_000, ext="a1"))
    before = world.balances()
    [dup] = world.ingest(world.event(card=1, amount=9_999, ext="a1"))
    assert dup.status == "duplicate"
    assert (dup.event_id, dup.outcome, dup.reward_amount) == (first.event_id, "rewarded", 200)
    assert world.balances() == before
    # A duplicate inside one batch too.
    outcomes = world.ingest(
        world.event(card=2, amount=1_000, ext="b1"), world.event(card=2, amount=1_000, ext="b1")
    )
    assert [o.status for o in outcomes] == ["accepted", "duplicate"]
    assert outcomes[1].event_id == outcomes[0].event_id


def test_malformed_event_is_rejected_with_its_reason_and_the_batch_goes_on(world):
    world.offer(offer_id=10)
    good = world.event(card=1, amount=4_000, ext="ok")
    bad_amount = world.event(card=1, amount=4_000, ext="bad1")
    bad_amount["amount"] = "12.50"
    unknown_card = world.event(card=999, amount=4_000, ext="bad2")
    outcomes = world.ingest(bad_amount, good, unknown_card)
    assert [(o.status, o.reason, o.field) for o in outcomes] == [
        ("rejected", "invalid_amount", "amount"),
        ("accepted", None, None),
        ("rejected", "unknown_card", "card_id"),
    ]
    with world.engine.connect() as conn:
        rows = conn.execute(
            text("SELECT external_id, reason FROM rejected_event ORDER BY external_id")
        ).all()
    assert [tuple(r) for r in rows] == [("bad1", "invalid_amount"), ("bad2", "unknown_card")]
    # The same bad input again is kept once.
    world.ingest(bad_amount)
    with world.engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM rejected_event")).scalar_one() == 2


def test_card_number_in_a_free_text_field_is_rejected_masked_and_never_stored(world):
    pan = "4111111111111111"
    ev = world.event(card=1, amount=1_000, ext="pan1", descriptor=f"REFUND {pan}")
    [o] = world.ingest(ev)
    assert (o.status, o.reason, o.field) == ("rejected", "card_number_not_allowed", "descriptor")
    with world.engine.connect() as conn:
        raw = conn.execute(text("SELECT raw_redacted FROM rejected_event")).scalar_one()
        dump = "\n".join(
            str(tuple(r))
            for table in ("card_event", "rejected_event")
            for r in conn.execute(text(f"SELECT * FROM {table}"))
        )
    assert "************1111" in raw
    assert pan not in dump


def test_clearing_with_other_mid_and_tip_links_by_card_brand_and_amount(world):
    # Auth $40.00 at Soho; clearing $46.00 (a tip) from the airport MID with no original id:
    # linked within 25% tolerance; reward recomputed: 5% of 4600 = 230, commission 57.5 -> 58.
    world.offer(offer_id=10)
    world.ingest(world.event(card=1, amount=4_000, ext="a1"))
    [clr] = world.ingest(
        world.event(
            "clearing", card=1, amount=4_600, ext="c1", mid="MID-BB-2", at=T0 + timedelta(hours=20)
        )
    )
    assert (clr.outcome, clr.reward_amount) == ("rewarded", 230)
    assert world.balances() == {
        "merchant:1:receivable:USD": (-288, 0),
        "member:1:pending:USD": (230, 0),
        "platform:revenue:USD": (58, 0),
    }
    with world.engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM reward")).scalar_one() == 1
    world.assert_balanced()


def test_clearing_without_an_auth_is_matched_as_the_purchase(world):
    world.offer(offer_id=10)
    [clr] = world.ingest(world.event("clearing", card=1, amount=2_000, ext="c1"))
    assert (clr.outcome, clr.reward_amount) == ("rewarded", 100)
    assert world.balances()["member:1:pending:USD"] == (100, 0)


def test_reversal_voids_and_refund_claws_back_in_proportion(world):
    world.offer(offer_id=10)
    world.ingest(
        world.event(card=1, amount=4_000, ext="a1"),
        world.event("reversal", card=1, amount=4_000, ext="r1", original="a1"),
    )
    assert world.balances()["member:1:pending:USD"] == (0, 0)
    # A cleared $40.00 (200 / 50), then a $10.00 refund: claws 50 and 12.5 -> 12.
    world.ingest(
        world.event(card=2, amount=4_000, ext="a2"),
        world.event("clearing", card=2, amount=4_000, ext="c2", original="a2"),
    )
    [rf] = world.ingest(world.event("refund", card=2, amount=1_000, ext="f2", original="c2"))
    assert (rf.outcome, rf.reward_amount) == ("clawback", -50)
    assert world.balances()["member:2:pending:USD"] == (150, 0)
    assert world.balances()["platform:revenue:USD"] == (38, 0)
    world.assert_balanced()


def test_no_offer_at_the_merchant(world):
    [o] = world.ingest(world.event(card=1, amount=4_000, mid="MID-OT-1"))
    assert (o.outcome, o.reward_amount) == ("no_offer", 0)
    assert world.balances() == {}


def test_highest_reward_wins_and_the_others_are_explained(world):
    world.offer(offer_id=10, rate_bps=500)  # 200 on $40
    world.offer(offer_id=11, reward_type="fixed", reward_amount=300, rate_bps=0)  # 300
    world.offer(offer_id=12, rate_bps=750, min_spend_amount=5_000)  # below min spend
    [o] = world.ingest(world.event(card=1, amount=4_000, ext="a1"))
    assert o.reward_amount == 300
    with world.engine.connect() as conn:
        decisions = json.loads(
            conn.execute(
                text("SELECT decisions_json FROM card_event WHERE external_id = 'a1'")
            ).scalar_one()
        )
    assert sorted(map(tuple, decisions)) == [
        (10, "outbid", 0),
        (11, "qualified", 300),
        (12, "below_min_spend", 0),
    ]


def test_budget_is_never_overspent(world):
    # Budget 300: the first $40.00 earns 200, the second only the 100 left, the third nothing.
    world.offer(offer_id=10, budget_amount=300)
    outcomes = world.ingest(*(world.event(card=1, amount=4_000) for _ in range(3)))
    assert [(o.outcome, o.reward_amount) for o in outcomes] == [
        ("rewarded", 200),
        ("rewarded", 100),
        ("no_reward", 0),
    ]
    assert outcomes[2].reason == "budget_exhausted"
    with world.engine.connect() as conn:
        assert conn.execute(text("SELECT reserved_amount FROM offer_budget")).scalar_one() == 300


def test_activation_must_precede_the_purchase(world):
    world.offer(offer_id=10, activation_required=True)
    world.activate(2, 10, T0 + timedelta(minutes=5))
    outcomes = world.ingest(world.event(card=1, amount=4_000), world.event(card=2, amount=4_000))
    assert [o.reason for o in outcomes] == ["not_activated", "activated_after_purchase"]
    [later] = world.ingest(world.event(card=2, amount=4_000, at=T0 + timedelta(minutes=6)))
    assert later.outcome == "rewarded"


def test_unlinked_card_stops_matching_and_its_history_stays(world):
    world.offer(offer_id=10)
    world.ingest(world.event(card=1, amount=4_000, ext="before"))
    with world.engine.begin() as conn:
        conn.execute(
            text("UPDATE card SET status = 'unlinked', unlinked_at = :t WHERE id = 1"),
            {"t": T0 + timedelta(hours=1)},
        )
    [o] = world.ingest(world.event(card=1, amount=4_000, at=T0 + timedelta(hours=2)))
    assert (o.outcome, o.reason) == ("not_matched", "card_unlinked")
    assert world.balances()["member:1:pending:USD"] == (0, 200)


def test_new_customer_offer_counts_earlier_purchases_at_the_brand(world):
    world.offer(offer_id=10, audience="new", lookback_days=90, rate_bps=1000)
    first, second = world.ingest(
        world.event(card=1, amount=1_000),
        world.event(card=1, amount=1_000, at=T0 + timedelta(days=1)),
    )
    assert (first.outcome, first.reward_amount) == ("rewarded", 100)
    assert (second.outcome, second.reason) == ("no_reward", "not_new_customer")


def test_a_plain_offer_keeps_no_counters_yet_its_purchases_count_for_a_later_audience(world):
    # A plain 5% offer reads no counters, so it writes none; the purchase still enters the
    # member's history at the brand. An offer for new customers published afterwards (10%)
    # sees it: the next $10.00 purchase is not a new customer's, and the plain offer pays 50.
    world.offer(offer_id=10)
    [first] = world.ingest(world.event(card=1, amount=4_000, ext="a1"))
    assert first.reward_amount == 200
    with world.engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM member_offer_state")).scalar_one() == 0
        history = conn.execute(
            text("SELECT member_id, merchant_id, purchase_count FROM member_brand_state")
        ).all()
    assert [tuple(r) for r in history] == [(1, 1, 1)]
    world.offer(offer_id=11, audience="new", lookback_days=90, rate_bps=1000)
    [second] = world.ingest(world.event(card=1, amount=1_000, at=T0 + timedelta(days=1)))
    assert (second.outcome, second.reward_amount) == ("rewarded", 50)
    with world.engine.connect() as conn:
        decisions = conn.execute(
            text("SELECT decisions_json FROM card_event WHERE id = :i"), {"i": second.event_id}
        ).scalar_one()
    assert [11, "not_new_customer", 0] in json.loads(decisions)
