"""Feed writers keep shared accounts' balances and bookings in rows of their own (slots), and
every reader sums them.

Worked example throughout: a $40.00 purchase on a 5% offer with 20% commission on the reward
earns the member 200; the merchant owes 250, of which the platform keeps 50.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy import Engine, create_engine, select, text

from matching.events import Source
from service.db import make_engine, normalize_url
from service.feeds.pipeline import IngestOutcome, IngestPipeline
from service.feeds.records import RawRecord
from settlement.ledger.accounts import AccountDirectory, AccountKind
from settlement.ledger.bookings import booking_mismatches
from settlement.ledger.check import check_ledger
from settlement.ledger.slots import account_totals
from settlement.ledger.writer import Entry, EntryStatus, Posting, TotalsChange, post_entry
from tests.service.pipeline_world import T0, PipelineWorld


def _rows(engine: Engine, sql: str) -> list[tuple]:
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(text(sql))]


def _world(engine: Engine) -> PipelineWorld:
    world = PipelineWorld(engine)
    world.member(member_id=1)
    world.member(member_id=2)
    world.offer(offer_id=10)
    return world


def test_a_feed_writer_adds_shared_balances_and_bookings_to_its_slot(engine):
    world = _world(engine)
    world.pipeline.balance_slot = 3
    world.ingest(world.event(card=1, amount=4_000, ext="a1"))
    world.ingest(
        world.event(
            "clearing", card=1, amount=4_000, ext="c1", original="a1", at=T0 + timedelta(days=1)
        )
    )
    # The shared accounts' own rows are untouched; slot 3 holds their balances. The member's
    # account is the member's writer's alone: no slot.
    assert _rows(
        engine, "SELECT code, posted_amount, pending_amount FROM ledger_account ORDER BY code"
    ) == [
        ("member:1:pending:USD", 200, 0),
        ("merchant:1:receivable:USD", 0, 0),
        ("platform:revenue:USD", 0, 0),
    ]
    assert _rows(
        engine,
        "SELECT a.code, s.slot, s.posted_amount, s.pending_amount FROM ledger_balance_slot s "
        "JOIN ledger_account a ON a.id = s.account_id ORDER BY a.code",
    ) == [("merchant:1:receivable:USD", 3, -250, 0), ("platform:revenue:USD", 3, 50, 0)]
    assert _rows(
        engine,
        "SELECT a.code, b.kind, b.offer_id, b.slot, b.postings, b.amount "
        "FROM ledger_daily_booking b JOIN ledger_account a ON a.id = b.account_id ORDER BY a.code",
    ) == [
        ("merchant:1:receivable:USD", "accrual", 10, 3, 1, -250),
        ("platform:revenue:USD", "accrual", 10, 3, 1, 50),
    ]
    # Every reader sums the slots: balances, totals, the check.
    assert world.balances() == {
        "merchant:1:receivable:USD": (-250, 0),
        "member:1:pending:USD": (200, 0),
        "platform:revenue:USD": (50, 0),
    }
    with engine.connect() as conn:
        totals = {(r.owner_type, r.kind): tuple(r[3:]) for r in conn.execute(account_totals())}
        assert booking_mismatches(conn) == []
    assert totals == {
        ("member", "member_pending"): (1, 200, 0),
        ("merchant", "merchant_receivable"): (1, -250, 0),
        ("platform", "platform_revenue"): (1, 50, 0),
    }
    world.assert_balanced()


def test_settlement_writes_the_account_row_and_readers_add_the_slots(engine):
    world = _world(engine)
    world.pipeline.balance_slot = 2
    world.ingest(world.event(card=1, amount=4_000, ext="a1"))
    world.ingest(world.event("clearing", card=1, amount=4_000, ext="c1", original="a1"))
    # The merchant pays 100 of its 250: a writer outside the feed, on the account row.
    paid = Entry(
        idempotency_key="paid-1",
        kind="merchant_payment",
        status=EntryStatus.POSTED,
        currency="USD",
        postings=(
            Posting(AccountKind.PLATFORM_CASH, None, -100),
            Posting(AccountKind.MERCHANT_RECEIVABLE, 1, 100),
        ),
        effective_at=T0,
        merchant_id=1,
    )
    with engine.begin() as conn:
        post_entry(conn, AccountDirectory(), paid, T0)
    assert _rows(
        engine,
        "SELECT posted_amount FROM ledger_account WHERE code = 'merchant:1:receivable:USD'",
    ) == [(100,)]
    assert world.balances()["merchant:1:receivable:USD"] == (-150, 0)  # 100 - 250
    world.assert_balanced()
    # The check reads the slots: a slot row that drifts from the postings is reported.
    with engine.begin() as conn:
        conn.execute(text("UPDATE ledger_balance_slot SET posted_amount = posted_amount + 1"))
    with engine.connect() as conn:
        report = check_ledger(conn)
    assert not report.balanced
    assert any("merchant:1:receivable:USD" in m for m in report.balance_mismatches)


def test_a_batch_without_a_slot_of_its_own_takes_one_of_the_feed_slots(engine):
    world = _world(engine)
    for n in range(6):
        world.ingest(world.event(card=1 + n % 2, amount=4_000))
    slots = {s for (s,) in _rows(engine, "SELECT DISTINCT slot FROM ledger_balance_slot")}
    assert slots and slots <= set(range(1, 9))
    assert world.balances()["platform:revenue:USD"] == (0, 6 * 50)  # auths: pending
    world.assert_balanced()


@pytest.fixture
def pg_world(pg_url) -> Iterator[PipelineWorld]:
    engine = make_engine(pg_url)
    yield _world(engine)
    engine.dispose()


def _purchase(external_id: str, card: int) -> RawRecord:
    event = {
        "external_id": external_id,
        "kind": "auth",
        "card_id": card,
        "amount": 4_000,
        "currency": "USD",
        "occurred_at": T0.isoformat(),
        "mid": "MID-BB-1",
    }
    return RawRecord(event, json.dumps(event), 0)


@pytest.mark.postgres
@pytest.mark.parametrize("other_slot", [2, 1])
def test_a_batch_in_another_slot_does_not_wait_for_one_about_to_commit(
    pg_url, pg_world, monkeypatch, other_slot
):
    """Our batch (slot 1) has written its balances and bookings and not yet committed; another
    batch, of another member at the same merchant, runs to its end meanwhile.

    In slot 2 it finds none of our rows locked and commits: 50 more pending revenue each. In
    our slot (as on the account row, before slots) it waits for our commit, here past its
    1-second lock timeout, and fails; ours then commits alone.
    """
    pg_world.pipeline.balance_slot = 1
    # Both members have bought there before: the accounts exist (a batch creating an account
    # holds its key until it commits, and every batch would wait for that).
    pg_world.ingest(pg_world.event(card=1, amount=4_000), pg_world.event(card=2, amount=4_000))
    impatient = create_engine(
        normalize_url(pg_url), connect_args={"options": "-c lock_timeout=1000"}
    )
    other = IngestPipeline(impatient, balance_slot=other_slot)
    seen: dict[str, object] = {}
    write = TotalsChange.write

    def write_then_run_the_other(self, conn, now, slot=None) -> None:
        write(self, conn, now, slot)
        if "other" in seen:
            return
        seen["other"] = "running"
        try:
            seen["other"] = other.ingest_batch([_purchase("theirs", card=2)], Source.NETWORK, T0)
        except Exception as exc:
            seen["other"] = type(exc).__name__

    monkeypatch.setattr(TotalsChange, "write", write_then_run_the_other)
    [ours] = pg_world.ingest(pg_world.event(card=1, amount=4_000, ext="ours"))
    impatient.dispose()
    assert (ours.outcome, ours.reward_amount) == ("rewarded", 200)
    revenue = pg_world.balances()["platform:revenue:USD"]
    if other_slot == 2:
        assert isinstance(seen["other"], list), seen["other"]  # it ran to its end
        [theirs] = seen["other"]
        assert isinstance(theirs, IngestOutcome)
        assert (theirs.outcome, theirs.reward_amount) == ("rewarded", 200)
        assert revenue == (0, 100 + 50 + 50)
    else:
        assert seen["other"] == "OperationalError"  # lock timeout
        assert revenue == (0, 100 + 50)
    with pg_world.engine.connect() as conn:
        assert conn.execute(select(text("count(*)")).select_from(text("card_event"))).scalar() == (
            4 if other_slot == 2 else 3
        )
    pg_world.assert_balanced()
