"""Card-event sequences that once lost or doubled money, with the numbers written out.

Every test runs on SQLite and PostgreSQL. The offer is 5% cashback with 20% commission on the
reward unless a test says otherwise: a $40.00 purchase earns the member 200, the merchant owes
250 and the platform keeps 50. It caps each member at 100 rewards, a cap no test reaches, so
that it keeps the member counters these tests check (a plain offer keeps none).
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import text

from service.feeds.records import read_csv
from tests.service.pipeline_world import T0, PipelineWorld

DAY = timedelta(days=1)


@pytest.fixture
def world(engine) -> PipelineWorld:
    w = PipelineWorld(engine)
    w.member(member_id=1)
    w.member(member_id=2)
    w.offer(offer_id=10, member_max_rewards=100)
    return w


def reward_row(world: PipelineWorld, reward_id: int) -> dict:
    with world.engine.connect() as conn:
        row = conn.execute(text("SELECT * FROM reward WHERE id = :i"), {"i": reward_id}).one()
    return dict(row._mapping)


def counters(world: PipelineWorld, member_id: int = 1, offer_id: int = 10) -> tuple[int, int]:
    with world.engine.connect() as conn:
        row = conn.execute(
            text(
                "SELECT reward_count, reward_amount FROM member_offer_state "
                "WHERE member_id = :m AND offer_id = :o"
            ),
            {"m": member_id, "o": offer_id},
        ).one_or_none()
    return (0, 0) if row is None else (row[0], row[1])


def reserved(world: PipelineWorld, offer_id: int = 10) -> int:
    with world.engine.connect() as conn:
        return conn.execute(
            text("SELECT reserved_amount FROM offer_budget WHERE offer_id = :o"), {"o": offer_id}
        ).scalar_one()


# -- 1. A refund before the clearing ---------------------------------------------------------


def test_refund_before_clearing_is_kept_when_the_clearing_arrives(world):
    # Auth $40.00 -> pending 200 / commission 50. A $10.00 refund of the auth before it clears
    # keeps 3/4 of the purchase: pending 150, commission 38 (37.5 rounded half-even... of 50 x
    # 3/4 = 37.5 -> 38). The clearing of $40.00 prices the purchase net of that refund: 200 x
    # (4000 - 1000) / 4000 = 150 to the member, 50 x 3/4 = 37.5 -> 38 to the platform, and the
    # merchant owes 188.
    [auth] = world.ingest(world.event(card=1, amount=4_000, ext="a1"))
    assert auth.reward_amount == 200
    [rf] = world.ingest(world.event("refund", card=1, amount=1_000, ext="f1", original="a1"))
    assert (rf.outcome, rf.reward_amount) == ("clawback", -50)
    assert world.balances()["member:1:pending:USD"] == (0, 150)
    [clr] = world.ingest(
        world.event("clearing", card=1, amount=4_000, ext="c1", original="a1", at=T0 + DAY)
    )
    assert (clr.outcome, clr.reward_amount) == ("rewarded", 150)
    assert world.balances() == {
        "merchant:1:receivable:USD": (-188, 0),
        "member:1:pending:USD": (150, 0),
        "platform:revenue:USD": (38, 0),
    }
    assert counters(world) == (1, 150)
    # The rest of the purchase refunded later takes the remaining 150, and nothing more.
    [rest] = world.ingest(world.event("refund", card=1, amount=3_000, ext="f2", original="c1"))
    assert (rest.outcome, rest.reward_amount) == ("clawback", -150)
    assert world.balances() == {
        "merchant:1:receivable:USD": (0, 0),
        "member:1:pending:USD": (0, 0),
        "platform:revenue:USD": (0, 0),
    }
    assert counters(world) == (1, 0)
    world.assert_balanced()


def test_refund_before_a_larger_clearing_keeps_its_share(world):
    # Auth $40.00, refund $10.00 before clearing, clearing $48.00 (a tip): the purchase earns
    # 5% of 4800 = 240, of which (4800 - 1000) / 4800 is kept: 240 x 3800 / 4800 = 190.
    world.ingest(world.event(card=1, amount=4_000, ext="a1"))
    world.ingest(world.event("refund", card=1, amount=1_000, ext="f1", original="a1"))
    [clr] = world.ingest(
        world.event("clearing", card=1, amount=4_800, ext="c1", original="a1", at=T0 + DAY)
    )
    assert (clr.outcome, clr.reward_amount) == ("rewarded", 190)
    assert world.balances()["member:1:pending:USD"] == (190, 0)
    assert reserved(world) == 190
    world.assert_balanced()


# -- 2. A second clearing of the same auth ---------------------------------------------------


def test_duplicate_presentment_earns_nothing(world):
    # Two clearings of $40.00 that both name auth a1: the second is the same presentment
    # again. The member keeps 200, the merchant owes 250, once.
    world.ingest(world.event(card=1, amount=4_000, ext="a1"))
    first, second = world.ingest(
        world.event("clearing", card=1, amount=4_000, ext="c1", original="a1", at=T0 + DAY),
        world.event("clearing", card=1, amount=4_000, ext="c2", original="a1", at=T0 + 2 * DAY),
    )
    assert (first.outcome, first.reward_amount) == ("rewarded", 200)
    assert (second.outcome, second.reason, second.reward_amount) == (
        "no_reward",
        "duplicate_presentment",
        0,
    )
    # And again in a later batch.
    [third] = world.ingest(
        world.event("clearing", card=1, amount=4_000, ext="c3", original="a1", at=T0 + 3 * DAY)
    )
    assert (third.outcome, third.reason) == ("no_reward", "duplicate_presentment")
    assert world.balances() == {
        "merchant:1:receivable:USD": (-250, 0),
        "member:1:pending:USD": (200, 0),
        "platform:revenue:USD": (50, 0),
    }
    assert counters(world) == (1, 200)
    world.assert_balanced()


def test_split_shipment_is_priced_on_the_additional_amount(world):
    # Auth $100.00 (pending 500); the order ships in two parts: clearing $60.00 (300, of the
    # 500 authorized), then $40.00. The purchase as a whole earns 5% of 10000 = 500; the second
    # clearing adds 500 - 300 = 200, never re-paying the first 300. Merchant owes 625.
    world.ingest(world.event(card=1, amount=10_000, ext="a1"))
    first, second = world.ingest(
        world.event("clearing", card=1, amount=6_000, ext="c1", original="a1", at=T0 + DAY),
        world.event("clearing", card=1, amount=4_000, ext="c2", original="a1", at=T0 + 2 * DAY),
    )
    assert (first.outcome, first.reward_amount) == ("rewarded", 300)
    assert (second.outcome, second.reason, second.reward_amount) == ("rewarded", None, 200)
    assert world.balances() == {
        "merchant:1:receivable:USD": (-625, 0),
        "member:1:pending:USD": (500, 0),
        "platform:revenue:USD": (125, 0),
    }
    assert counters(world) == (1, 500)
    assert reserved(world) == 500
    # A refund of the second shipment claws back exactly what it added.
    [rf] = world.ingest(world.event("refund", card=1, amount=4_000, ext="f2", original="c2"))
    assert (rf.outcome, rf.reward_amount) == ("clawback", -200)
    assert world.balances()["member:1:pending:USD"] == (300, 0)
    world.assert_balanced()


def test_split_shipment_respects_the_per_purchase_maximum(world):
    # Offer 11 pays 10% capped at 800 per purchase. Auth $100.00; clearings $60.00 (600) and
    # $40.00: the whole purchase earns min(1000, 800) = 800, so the second adds only 200.
    world.offer(offer_id=11, rate_bps=1_000, max_reward_amount=800)
    world.ingest(world.event(card=2, amount=10_000, ext="a1"))
    first, second = world.ingest(
        world.event("clearing", card=2, amount=6_000, ext="c1", original="a1", at=T0 + DAY),
        world.event("clearing", card=2, amount=4_000, ext="c2", original="a1", at=T0 + DAY),
    )
    assert (first.reward_amount, second.reward_amount) == (600, 200)
    assert world.balances()["member:2:pending:USD"] == (800, 0)
    world.assert_balanced()


# -- 3. The same event in two concurrent batches ---------------------------------------------

ROUNDS = 12


def _race(db_url: str, round_no: int, worker: int, barrier, results) -> None:
    from matching.events import Source
    from service.db import make_engine
    from service.feeds.pipeline import IngestPipeline
    from service.feeds.records import RawRecord

    engine = make_engine(db_url)
    pipeline = IngestPipeline(engine, batch_events=100)
    # Both workers send the shared event, each with events of its own around it.
    events = [
        {
            "external_id": ext,
            "kind": "auth",
            "card_id": 1,
            "amount": 4_000,
            "currency": "USD",
            "occurred_at": T0.isoformat(),
            "mid": "MID-BB-1",
        }
        for ext in (
            f"own-{round_no}-{worker}-a",
            f"shared-{round_no}",
            f"own-{round_no}-{worker}-b",
        )
    ]
    records = [RawRecord(e, "", i) for i, e in enumerate(events)]
    barrier.wait(30)
    outcomes = pipeline.ingest_batch(records, Source.NETWORK, T0)
    engine.dispose()
    results.put([(o.status, o.event_id, o.outcome, o.reward_amount) for o in outcomes])


@pytest.mark.slow
def test_the_same_event_in_two_concurrent_batches_is_stored_once(world, db_url):
    import multiprocessing as mp

    world.engine.dispose()
    ctx = mp.get_context("spawn")
    for round_no in range(ROUNDS):
        barrier = ctx.Barrier(2)
        results = ctx.Queue()
        procs = [
            ctx.Process(target=_race, args=(db_url, round_no, w, barrier, results)) for w in (0, 1)
        ]
        for p in procs:
            p.start()
        for p in procs:
            p.join(120)
            assert p.exitcode == 0, f"round {round_no}: a batch failed"
        got = [results.get(timeout=5) for _ in procs]
        shared = sorted((r[1] for r in got), key=lambda o: o[0])
        # One accepted it, the other reports it as a duplicate with the first result.
        assert [s[0] for s in shared] == ["accepted", "duplicate"]
        assert shared[0][1:] == shared[1][1:] == (shared[0][1], "rewarded", 200)
        assert all(r[0][0] == r[2][0] == "accepted" for r in got)
    with world.engine.connect() as conn:
        stored = conn.execute(text("SELECT count(*) FROM card_event")).scalar_one()
    # Per round: two events of each worker's own and the shared one, each earning 200.
    assert stored == 5 * ROUNDS
    assert world.balances()["member:1:pending:USD"] == (0, 200 * 5 * ROUNDS)
    world.assert_balanced()


# -- 4. A per-line parse failure in a file ---------------------------------------------------


def test_an_oversized_csv_field_rejects_its_line_and_the_file_goes_on(tmp_path):
    import csv
    import io

    big = "x" * (csv.field_size_limit() + 10)
    data = (
        "external_id,kind,card_id,amount,currency,occurred_at,mid,descriptor\n"
        f"a1,auth,1,4000,USD,{T0.isoformat()},MID-BB-1,ok\n"
        f'a2,auth,1,4000,USD,{T0.isoformat()},MID-BB-1,"{big}"\n'
        f"a3,auth,1,4000,USD,{T0.isoformat()},MID-BB-1,ok\n"
    )
    records = list(read_csv(io.BytesIO(data.encode())))
    assert [r.fields["external_id"] if r.fields else r.error[1] for r in records] == [
        "a1",
        "field_too_large",
        "a3",
    ]
    assert records[1].line == 3
    assert len(records[1].raw_text) <= 4_000


def test_a_deeply_nested_ndjson_line_rejects_its_line_and_the_file_goes_on():
    import io
    import json

    from service.feeds.records import read_ndjson

    good = json.dumps({"external_id": "a1"})
    data = f"{good}\n{'[' * 50_000}\n{good}\n".encode()
    records = list(read_ndjson(io.BytesIO(data)))
    assert [r.error[1] if r.error else "ok" for r in records] == ["ok", "invalid_json", "ok"]


# -- Siblings: events out of order, expiry, reversal after refund, races with maturation ---


def test_refund_before_its_auth_is_applied_when_the_auth_arrives(world):
    # The refund of $10.00 names auth a1, which is not stored yet: kept unlinked, nothing
    # moves. When a1 arrives it earns 200 and the waiting refund takes back 1/4 of it: 150.
    [rf] = world.ingest(world.event("refund", card=1, amount=1_000, ext="f1", original="a1"))
    assert (rf.outcome, rf.reason) == ("unlinked", "original_not_found")
    assert world.balances() == {}
    [auth] = world.ingest(world.event(card=1, amount=4_000, ext="a1"))
    assert (auth.outcome, auth.reward_amount) == ("rewarded", 200)
    assert world.balances()["member:1:pending:USD"] == (0, 150)
    with world.engine.connect() as conn:
        outcome, linked = conn.execute(
            text("SELECT outcome, linked_event_id FROM card_event WHERE external_id = 'f1'")
        ).one()
    assert (outcome, linked) == ("clawback", auth.event_id)
    # The clearing then keeps the refund: 150 posted, 38 commission (50 x 3/4 = 37.5 -> 38).
    world.ingest(world.event("clearing", card=1, amount=4_000, ext="c1", original="a1"))
    assert world.balances()["member:1:pending:USD"] == (150, 0)
    assert world.balances()["platform:revenue:USD"] == (38, 0)
    assert reserved(world) == 150
    world.assert_balanced()


def test_reversal_before_its_auth_in_the_same_batch_voids_it(world):
    rv, auth = world.ingest(
        world.event("reversal", card=1, amount=4_000, ext="r1", original="a1"),
        world.event(card=1, amount=4_000, ext="a1"),
    )
    assert (auth.outcome, auth.reward_amount) == ("rewarded", 200)
    assert (rv.outcome, rv.reason) == ("voided", None)
    assert world.balances()["member:1:pending:USD"] == (0, 0)
    assert (reserved(world), counters(world)) == (0, (0, 0))
    world.assert_balanced()


def test_clearing_before_its_auth_is_paid_once(world):
    # The clearing names a1, not stored yet: it is priced as the purchase (200 posted). When
    # a1 arrives it is the same purchase, already paid: no second reward.
    [clr] = world.ingest(world.event("clearing", card=1, amount=4_000, ext="c1", original="a1"))
    assert (clr.outcome, clr.reward_amount) == ("rewarded", 200)
    [auth] = world.ingest(world.event(card=1, amount=4_000, ext="a1"))
    assert (auth.outcome, auth.reason, auth.reward_amount) == ("no_reward", "already_cleared", 0)
    assert world.balances() == {
        "merchant:1:receivable:USD": (-250, 0),
        "member:1:pending:USD": (200, 0),
        "platform:revenue:USD": (50, 0),
    }
    world.assert_balanced()


def test_clearing_after_its_auth_expired_is_paid_within_the_budget_left(world):
    # Offer 11: 5%, budget 300. Auth a1 ($40.00) reserves 200 and expires after 7 days,
    # releasing it; member 2's $50.00 purchase then takes 250. a1's clearing comes on day 9:
    # the purchase happened, so it earns again, but only the 50 left in the budget.
    from settlement.maturation import expire_stale_auths

    world.offer(offer_id=11, budget_amount=300, merchant_id=2)
    world.ingest(world.event(card=1, amount=4_000, ext="a1", mid="MID-OT-1"))
    expired = expire_stale_auths(world.engine, T0 + 8 * DAY)
    assert (expired.expired_count, expired.released_amount) == (1, 200)
    assert reserved(world, 11) == 0
    world.ingest(world.event(card=2, amount=5_000, ext="b1", mid="MID-OT-1", at=T0 + 8 * DAY))
    assert reserved(world, 11) == 250
    [clr] = world.ingest(
        world.event(
            "clearing", card=1, amount=4_000, ext="c1", original="a1", mid="MID-OT-1",
            at=T0 + 9 * DAY,
        )
    )  # fmt: skip
    assert (clr.outcome, clr.reward_amount) == ("rewarded", 50)
    assert reserved(world, 11) == 300
    assert world.balances()["member:1:pending:USD"] == (50, 0)
    world.assert_balanced()


def test_reversal_after_a_partial_refund_releases_what_is_left(world):
    # Auth $40.00 (200), refund $10.00 before clearing (150 left), then the auth is reversed:
    # the 150 is voided and released; the member's counters and the budget go back to zero.
    world.offer(offer_id=12, merchant_id=2, budget_amount=1_000)
    world.ingest(world.event(card=1, amount=4_000, ext="a1", mid="MID-OT-1"))
    world.ingest(world.event("refund", card=1, amount=1_000, ext="f1", original="a1"))
    assert reserved(world, 12) == 150
    [rv] = world.ingest(world.event("reversal", card=1, amount=4_000, ext="r1", original="a1"))
    assert rv.outcome == "voided"
    assert world.balances()["member:1:pending:USD"] == (0, 0)
    assert reserved(world, 12) == 0
    assert counters(world, 1, 12) == (0, 0)
    world.assert_balanced()


def test_clearing_names_an_event_in_another_currency(world):
    # A clearing in EUR of a USD auth is refused, so nothing is repriced across currencies;
    # so is a USD refund of a EUR purchase.
    world.ingest(world.event(card=1, amount=4_000, ext="a1"))
    [clr] = world.ingest(
        world.event("clearing", card=1, amount=4_000, ext="c1", original="a1", currency="EUR")
    )
    assert (clr.status, clr.reason, clr.field) == ("rejected", "currency_mismatch", "currency")
    [rf] = world.ingest(
        world.event("refund", card=1, amount=1_000, ext="f1", original="a1", currency="EUR")
    )
    assert (rf.status, rf.reason) == ("rejected", "currency_mismatch")
    assert world.balances()["member:1:pending:USD"] == (0, 200)
    world.assert_balanced()


def test_maturation_holding_a_reward_makes_a_refund_wait_for_it(world):
    # A cleared $40.00 purchase (200, no hold). Maturation has read the reward and is about to
    # move its 200 to available when a $10.00 refund of it arrives. The refund must wait and
    # then take its 50 from available (maturation first): pending 0, available 150. Without
    # the row lock it would claw 50 from pending and be overwritten: pending -50, 200 available.
    import threading
    import time

    from settlement.rewards import RewardBook

    world.offer(offer_id=11, merchant_id=2, hold_days=0)
    world.ingest(
        world.event(card=1, amount=4_000, ext="a1", mid="MID-OT-1"),
        world.event("clearing", card=1, amount=4_000, ext="c1", original="a1", mid="MID-OT-1"),
    )
    with world.engine.connect() as conn:
        reward_id = conn.execute(text("SELECT id FROM reward")).scalar_one()
    refund_done = threading.Event()

    def refund() -> None:
        world.ingest(world.event("refund", card=1, amount=1_000, ext="f1", original="c1"))
        refund_done.set()

    with world.engine.begin() as conn:
        book = RewardBook(now=T0 + DAY)
        record = book.load(conn, {reward_id})[reward_id]
        thread = threading.Thread(target=refund)
        thread.start()
        time.sleep(0.5)
        assert not refund_done.is_set()  # waiting for the reward
        book.mature(record, at=T0 + DAY)
        book.flush(conn, world.pipeline.directory)
    thread.join(30)
    assert refund_done.is_set()
    balances = world.balances()
    assert balances["member:1:pending:USD"] == (0, 0)
    assert balances["member:1:available:USD"] == (150, 0)
    assert reward_row(world, reward_id)["clawed_reward_amount"] == 50
    world.assert_balanced()
