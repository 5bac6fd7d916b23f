"""A feed batch reads budgets unlocked and reserves them once decided, each within its limit;
a batch whose budget moved under it is decided again and never overspends.

Worked example: an offer pays 10% with a budget of 5,000. A batch of three $100.00 auths
(1,000 each) reads 5,000 remaining. While it decides, another batch reserves 4,000 and commits.
Reserving 3,000 would take the offer to 7,000: refused, so the batch is decided again with the
budget locked and 1,000 remaining: the first auth earns 1,000, the other two nothing
(`budget_exhausted`); reserved ends at exactly 5,000.
"""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import event, text

from service.feeds import pipeline as pipeline_module
from service.feeds.batch import reserve_budgets
from settlement.budget import BudgetMoved, reserve
from tests.service.pipeline_world import PipelineWorld


def _budget(engine) -> tuple[int, int]:
    with engine.connect() as conn:
        return tuple(
            conn.execute(
                text(
                    "SELECT reserved_amount, redemption_count FROM offer_budget WHERE offer_id = 10"
                )
            ).one()
        )


def test_reserve_adds_within_limits_and_returns_what_remained(engine):
    world = PipelineWorld(engine)
    world.offer(offer_id=10, rate_bps=1_000, budget_amount=5_000)
    with engine.begin() as conn:
        before = reserve(conn, {10: (3_000, 3)}, {10})
    assert before[10].amount == 5_000  # all of it remained before this reservation
    assert _budget(engine) == (3_000, 3)
    with engine.begin() as conn:
        before = reserve(conn, {10: (2_000, 2)}, {10})
    assert before[10].amount == 2_000
    assert _budget(engine) == (5_000, 5)


def test_reserve_refuses_an_increase_past_the_budget_and_changes_nothing(engine):
    world = PipelineWorld(engine)
    world.offer(offer_id=10, rate_bps=1_000, budget_amount=5_000)
    with engine.begin() as conn:
        reserve(conn, {10: (4_000, 4)}, {10})
    with pytest.raises(BudgetMoved) as refused, engine.begin() as conn:
        reserve(conn, {10: (1_001, 1)}, {10})
    assert refused.value.offer_ids == {10}
    assert _budget(engine) == (4_000, 4)  # rolled back
    with engine.begin() as conn:  # a release is never refused
        reserve(conn, {10: (-1_000, -1)}, {10})
    assert _budget(engine) == (3_000, 3)


def test_a_reservation_made_while_a_batch_decides_is_never_overspent(engine):
    """Another batch tries to reserve 4,000 (within the limit) while ours decides.

    PostgreSQL reads budgets unlocked, so it gets them at once; ours is then refused at its
    reservation and decided again with the budget locked: 1,000 / 0 / 0, reserved exactly
    5,000. On SQLite our batch holds the write lock from its start: the other waits, then
    finds 2,000 left and takes nothing; ours pays 1,000 three times, reserved 3,000.
    """
    world = PipelineWorld(engine)
    world.member(member_id=1)
    world.offer(offer_id=10, rate_bps=1_000, budget_amount=5_000)
    postgres = engine.dialect.name == "postgresql"
    other: dict[str, object] = {}

    def take_4000_elsewhere() -> None:
        with engine.connect() as conn:
            if postgres:  # were our batch holding the budget row, this would time out
                conn.execute(text("SET lock_timeout = '2s'"))
            other["taken"] = conn.execute(
                text(
                    "UPDATE offer_budget SET reserved_amount = reserved_amount + 4000, "
                    "redemption_count = redemption_count + 4 "
                    "WHERE offer_id = 10 AND reserved_amount + 4000 <= budget_amount"
                )
            ).rowcount
            conn.commit()

    def once_budgets_are_read(conn, cursor, statement, *args) -> None:
        if "thread" not in other and statement.startswith("SELECT offer_budget.offer_id"):
            worker = threading.Thread(target=take_4000_elsewhere)
            other["thread"] = worker
            worker.start()
            worker.join(1)  # PostgreSQL: done; SQLite: still waiting for our write lock

    event.listen(engine, "after_cursor_execute", once_budgets_are_read)
    try:
        outcomes = world.ingest(*(world.event(card=1, amount=10_000) for _ in range(3)))
    finally:
        event.remove(engine, "after_cursor_execute", once_budgets_are_read)
    worker = other["thread"]
    assert isinstance(worker, threading.Thread)
    worker.join(30)
    rewards = [o.reward_amount for o in outcomes]
    refused_s = world.pipeline.clock.seconds.get("refused and rolled back", 0.0)
    if postgres:
        assert refused_s > 0  # the refused attempt's rollback has its own row
        assert other["taken"] == 1
        assert rewards == [1_000, 0, 0]
        assert [o.reason for o in outcomes[1:]] == ["budget_exhausted", "budget_exhausted"]
        assert _budget(engine) == (5_000, 5)
    else:
        assert refused_s == 0
        assert other["taken"] == 0
        assert rewards == [1_000, 1_000, 1_000]
        assert _budget(engine) == (3_000, 3)
    world.assert_balanced()


def test_two_batches_of_one_member_take_turns_so_a_cap_holds(engine):
    """An offer of 5% capped at one reward per member, no budget. Two batches for the same
    member arrive at once ($40.00 and $60.00): the second waits for the first, reads its count
    and pays nothing (`member_cap_reached`). Without that, both would read a count of zero and
    the member would be paid twice (200 + 300)."""
    world = PipelineWorld(engine)
    world.member(member_id=1)
    world.offer(offer_id=10, member_max_rewards=1)
    second: dict[str, object] = {}
    first_ev, second_ev = world.event(card=1, amount=4_000), world.event(card=1, amount=6_000)

    def run_second() -> None:
        second["outcomes"] = world.ingest(second_ev)

    def while_the_first_decides(conn, cursor, statement, *args) -> None:
        if "thread" not in second and statement.startswith("SELECT offer_budget.offer_id"):
            worker = threading.Thread(target=run_second)
            second["thread"] = worker
            worker.start()
            worker.join(2)  # a second batch that does not wait for this one finishes here

    event.listen(engine, "after_cursor_execute", while_the_first_decides)
    try:
        first = world.ingest(first_ev)
    finally:
        event.remove(engine, "after_cursor_execute", while_the_first_decides)
    thread = second["thread"]
    assert isinstance(thread, threading.Thread)
    thread.join(30)
    (later,) = second["outcomes"]
    assert first[0].reward_amount == 200
    assert (later.reward_amount, later.reason) == (0, "member_cap_reached")
    assert world.balances()["member:1:pending:USD"] == (0, 200)
    world.assert_balanced()


def test_a_batch_reserves_its_budgets_before_it_writes_so_a_refusal_wastes_no_writes(
    engine, monkeypatch
):
    """A refusal decides the batch again: reserved right after deciding, the refused attempt
    has written none of its events, rewards or entries, so it cost only its reads and its
    decisions. (With the reservation last, two ingest processes spent most of their time
    writing batches that were then rolled back: 2 workers ran at 0.80x one worker.)"""
    world = PipelineWorld(engine)
    world.member(member_id=1)
    world.offer(offer_id=10, rate_bps=1_000, budget_amount=5_000)
    written_before_reserving: list[int] = []

    def at_the_reservation(conn, state, holds) -> None:
        # The batch's own connection: its uncommitted rows count.
        written_before_reserving.append(
            conn.execute(
                text(
                    "SELECT (SELECT count(*) FROM card_event) + (SELECT count(*) FROM reward)"
                    " + (SELECT count(*) FROM ledger_entry)"
                )
            ).scalar_one()
        )
        reserve_budgets(conn, state, holds)

    monkeypatch.setattr(pipeline_module, "reserve_budgets", at_the_reservation)
    outcomes = world.ingest(*(world.event(card=1, amount=10_000) for _ in range(3)))
    assert [o.reward_amount for o in outcomes] == [1_000, 1_000, 1_000]
    assert written_before_reserving == [0]
    assert _budget(engine) == (3_000, 3)
    world.assert_balanced()
