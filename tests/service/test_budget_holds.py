"""On PostgreSQL a feed batch reserves its budgets ahead of its own transaction, in a short one
committed at once, and holds no budget row while it writes; what it reserved is given back if
the batch does not commit. On SQLite (one writer) the batch reserves in its own transaction.

Worked example throughout: an offer pays 10% with a budget of 5,000; a batch of three $100.00
auths reserves 3,000 (1,000 each, 3 redemptions).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, create_engine, text

from service.db import make_engine, normalize_url
from service.feeds.stages import REFUSED_STAGE
from settlement import budget_holds
from settlement.budget_holds import BudgetHolds, give_back_abandoned
from tests.service.pipeline_world import PipelineWorld


def _budget(engine: Engine) -> tuple[int, int]:
    with engine.connect() as conn:
        row = conn.execute(
            text("SELECT reserved_amount, redemption_count FROM offer_budget WHERE offer_id = 10")
        ).one()
        return (row[0], row[1])


def _held(engine: Engine) -> int:
    with engine.connect() as conn:
        return conn.execute(text("SELECT count(*) FROM offer_budget_hold")).scalar_one()


@pytest.fixture
def pg_engine(pg_url) -> Iterator[Engine]:
    """PostgreSQL only: SQLite reserves in the batch's transaction, so it has no holds."""
    engine = make_engine(pg_url)
    yield engine
    engine.dispose()


def _world(engine: Engine) -> PipelineWorld:
    world = PipelineWorld(engine)
    world.member(member_id=1)
    world.offer(offer_id=10, rate_bps=1_000, budget_amount=5_000)
    return world


def _three_auths(world: PipelineWorld) -> list[dict]:
    return [world.event(card=1, amount=10_000) for _ in range(3)]


def test_a_batch_holds_no_budget_row_while_it_writes(engine):
    """While our batch writes its events, another reserves 1,000 of the same budget.

    PostgreSQL: our 3,000 was committed ahead, so the other finds the row free at once (with
    the reservation in the batch, it waited for our commit: here it would time out after 1 s)
    and both stand: 4,000 reserved. SQLite: the batch reserved in its own transaction, which
    already counts the 3,000, and nothing was held ahead.
    """
    world = _world(engine)
    postgres = engine.dialect.name == "postgresql"
    seen: dict[str, object] = {}
    write_events = world.pipeline._write_events

    def while_writing(conn, source, now, rows) -> None:
        seen["own view"] = conn.execute(
            text("SELECT reserved_amount FROM offer_budget WHERE offer_id = 10")
        ).scalar_one()
        if postgres:
            seen["held, seen by others"] = (_budget(engine), _held(engine))
            with engine.connect() as other:
                other.execute(text("SET LOCAL lock_timeout = '1s'"))
                seen["other took"] = other.execute(
                    text(
                        "UPDATE offer_budget SET reserved_amount = reserved_amount + 1000, "
                        "redemption_count = redemption_count + 1 "
                        "WHERE offer_id = 10 AND reserved_amount + 1000 <= budget_amount"
                    )
                ).rowcount
                other.commit()
        write_events(conn, source, now, rows)

    world.pipeline._write_events = while_writing
    outcomes = world.ingest(*_three_auths(world))
    assert [o.reward_amount for o in outcomes] == [1_000, 1_000, 1_000]
    assert seen["own view"] == 3_000
    if postgres:
        # Committed ahead; its hold row is deleted by the batch, not yet committed.
        assert seen["held, seen by others"] == ((3_000, 3), 1)
        assert seen["other took"] == 1
        assert _budget(engine) == (4_000, 4)
    else:
        assert "other took" not in seen
        assert _budget(engine) == (3_000, 3)
    assert _held(engine) == 0
    world.assert_balanced()


def test_a_batch_that_fails_after_reserving_gives_its_budget_back(engine):
    """The batch fails while writing (after its 3,000 was reserved): nothing stays reserved
    or held, and the same batch sent again earns its 3,000."""
    world = _world(engine)
    events = _three_auths(world)
    write_events = world.pipeline._write_events

    def fail_once(conn, source, now, rows) -> None:
        world.pipeline._write_events = write_events
        raise OSError("disk full")

    world.pipeline._write_events = fail_once
    with pytest.raises(OSError, match="disk full"):
        world.ingest(*events)
    assert _budget(engine) == (0, 0)
    assert _held(engine) == 0
    outcomes = world.ingest(*events)
    assert [o.reward_amount for o in outcomes] == [1_000, 1_000, 1_000]
    assert _budget(engine) == (3_000, 3)
    world.assert_balanced()


def test_the_holds_of_a_batch_whose_process_died_are_given_back(engine):
    """The process dies after its reservation was committed ahead and before its batch
    commits (its connection closes, the batch rolls back, nobody gives back). PostgreSQL:
    3,000 stays reserved with its hold until `give_back_abandoned` (run as `clo ingest`
    starts and by the scheduler) returns it. SQLite: the reservation died with the batch."""
    _world(engine)
    batch = engine.connect()
    batch.begin()
    holds = BudgetHolds(engine).on(batch)
    holds.reserve({10: (3_000, 3)}, {10})
    batch.close()  # died: rolled back, and the holds' __exit__ never ran
    holds._end_reservation()
    if engine.dialect.name == "postgresql":
        assert (_budget(engine), _held(engine)) == ((3_000, 3), 1)
        assert give_back_abandoned(engine) == 1
    else:
        assert give_back_abandoned(engine) == 0
    assert (_budget(engine), _held(engine)) == ((0, 0), 0)
    assert give_back_abandoned(engine) == 0  # nothing twice


@pytest.mark.postgres
def test_the_holds_of_a_live_batch_are_not_given_back(pg_engine):
    """PostgreSQL: a batch's holds are committed ahead of it, and its key's advisory lock
    says it still lives: `give_back_abandoned` leaves them (and, once the batch has deleted
    them, their row locks hide them) until the batch is over."""
    engine = pg_engine
    _world(engine)
    batch = engine.connect()
    batch.begin()
    holds = BudgetHolds(engine).on(batch)
    batch.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": holds.key})
    with engine.begin() as conn:  # as `reserve` commits them, before the batch deletes them
        conn.execute(
            text(
                "UPDATE offer_budget SET reserved_amount = 3000, redemption_count = 3 "
                "WHERE offer_id = 10"
            )
        )
        conn.execute(
            text("INSERT INTO offer_budget_hold VALUES (:k, 10, 3000, 3)"), {"k": holds.key}
        )
    assert give_back_abandoned(engine) == 0
    batch.execute(text("DELETE FROM offer_budget_hold WHERE batch_key = :k"), {"k": holds.key})
    assert give_back_abandoned(engine) == 0  # deleted, not yet committed: locked, skipped
    batch.rollback()  # the batch failed: its holds are back and its key is free
    assert give_back_abandoned(engine) == 1
    assert (_budget(engine), _held(engine)) == ((0, 0), 0)
    batch.close()


@pytest.mark.postgres
def test_a_reservation_kept_waiting_for_a_budget_row_decides_the_batch_again(
    pg_engine, monkeypatch
):
    """PostgreSQL: something holds the budget row past the reservation's lock timeout (here
    shortened to 0.2 s): the attempt is refused like a moved budget and the batch decided
    again once the row is free, never stuck in a wait PostgreSQL cannot see."""
    engine = pg_engine
    monkeypatch.setattr(budget_holds, "HOLD_LOCK_TIMEOUT_MS", 200)
    world = _world(engine)
    blocker = engine.connect()
    blocker.execute(text("SELECT * FROM offer_budget WHERE offer_id = 10 FOR UPDATE"))
    clock = world.pipeline.clock
    lap = clock.lap

    def free_the_row_once_refused(stage: str) -> None:
        if stage == REFUSED_STAGE:
            blocker.rollback()
        lap(stage)

    clock.lap = free_the_row_once_refused
    try:
        outcomes = world.ingest(*_three_auths(world))
    finally:
        blocker.close()
    assert [o.reward_amount for o in outcomes] == [1_000, 1_000, 1_000]
    assert world.pipeline.clock.retries["budget_moved"] == 1
    assert (_budget(engine), _held(engine)) == ((3_000, 3), 0)
    world.assert_balanced()


@pytest.mark.postgres
def test_batches_holding_every_pooled_connection_can_still_reserve(pg_url):
    """PostgreSQL: a batch holds its connection while it reserves on a second one. From one
    pool, batches holding all its connections would each wait for a second that never comes
    (here a pool of one, which would time out after 1 s); reservations have a pool of their
    own."""
    engine = create_engine(normalize_url(pg_url), pool_size=1, max_overflow=0, pool_timeout=1)
    try:
        world = _world(engine)
        outcomes = world.ingest(*_three_auths(world))
        assert [o.reward_amount for o in outcomes] == [1_000, 1_000, 1_000]
        assert _budget(engine) == (3_000, 3)
    finally:
        engine.dispose()
