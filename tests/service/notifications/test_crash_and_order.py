"""A notifier that dies mid-chunk tells nothing twice and skips nothing; ids that commit
out of order (PostgreSQL) are waited for, never passed over."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import event, select

from service.notifications.dispatch import dispatch_due
from service.notifications.notifier import OutboxConsumer
from service.notifications.tables import NotifierCursor
from settlement.outbox import OutboxEvent, OutboxEventType, outbox_row
from tests.service.notifications.world import (
    deliveries,
    notifications,
    notify_settings,
    world_with_members,
)
from tests.service.pipeline_world import T0

NOW = T0 + timedelta(seconds=1)


class Crash(Exception):
    """The process dying at this statement (raised by the database driver's hook)."""


def crash_on_cursor_update(engine):
    """Fail the chunk's last statement: notifications and deliveries were written, the
    cursor not yet, and the transaction never commits."""

    def before(conn, cursor, statement, parameters, context, executemany):
        if statement.lstrip().upper().startswith("UPDATE NOTIFIER_CURSOR"):
            raise Crash

    event.listen(engine, "before_cursor_execute", before)
    return lambda: event.remove(engine, "before_cursor_execute", before)


def cursor_of(engine) -> int | None:
    t = NotifierCursor.__table__
    with engine.connect() as conn:
        return conn.execute(select(t.c.last_outbox_id)).scalar_one_or_none()


def test_a_crash_mid_chunk_leaves_nothing_and_the_next_run_tells_each_thing_once(engine, smtp):
    world = world_with_members(engine, 1, 2)
    for n in range(3):
        world.ingest(world.event(card=1 + n % 2, amount=4_000 + n, ext=f"a{n}"))
    undo = crash_on_cursor_update(engine)
    with pytest.raises(Crash):
        OutboxConsumer(engine).consume(NOW)
    undo()
    assert notifications(engine) == [] and deliveries(engine) == []

    # A new process (no memory of the first) reads the same chunk again.
    OutboxConsumer(engine).consume(NOW)
    OutboxConsumer(engine).consume(NOW)  # and a third, after the commit: nothing new
    assert len(notifications(engine)) == 3
    assert len(deliveries(engine)) == 3
    assert dispatch_due(engine, notify_settings(smtp.port), NOW).sent == 3
    assert dispatch_due(engine, notify_settings(smtp.port), NOW).sent == 0
    assert sorted(m.envelope_to[0] for m in smtp.wait_for(3)) == [
        "m1@example.com",
        "m1@example.com",
        "m2@example.com",
    ]


def test_a_crash_after_the_commit_sends_what_was_pending_on_restart(engine, smtp):
    world = world_with_members(engine)
    world.ingest(world.event(card=1, amount=4_000, ext="a1"))
    OutboxConsumer(engine).consume(NOW)  # committed; the process dies before sending
    assert deliveries(engine)[0][2] == "pending"
    assert dispatch_due(engine, notify_settings(smtp.port), NOW).sent == 1
    assert len(smtp.wait_for(1)) == 1


def write_outbox_with_ids(engine, *ids: int) -> None:
    rows = [
        dict(
            zip(
                ("type", "occurred_at", "created_at", "member_id", "merchant_id", "offer_id",
                 "reward_id", "amount_minor", "currency", "data"),
                outbox_row(
                    OutboxEventType.REWARD_PENDING, occurred_at=T0, now=T0, member_id=1,
                    merchant_id=1, offer_id=10, reward_id=1000 + i, amount_minor=100 + i,
                    currency="USD",
                ),
                strict=True,
            ),
            id=i,
        )
        for i in ids
    ]  # fmt: skip
    with engine.begin() as conn:
        conn.execute(OutboxEvent.__table__.insert(), rows)


def test_an_id_that_commits_late_is_waited_for_and_then_told(engine):
    world_with_members(engine)
    write_outbox_with_ids(engine, 1, 3)  # 2 is still being written by another transaction
    consumer = OutboxConsumer(engine, gap_wait=timedelta(seconds=30))
    result = consumer.consume(NOW)
    # 1 and 3 are told at once; the cursor stays before the gap.
    assert (result.notified_count, result.cursor) == (2, 1)
    assert consumer.consume(NOW + timedelta(seconds=1)).notified_count == 0  # 3 not again
    write_outbox_with_ids(engine, 2)
    result = consumer.consume(NOW + timedelta(seconds=2))
    assert (result.notified_count, result.cursor) == (1, 3)
    assert sorted(n.reward_id or 0 for n in notifications(engine)) == [1001, 1002, 1003]
    assert cursor_of(engine) == 3


def test_a_gap_that_never_fills_is_passed_after_the_wait(engine):
    world_with_members(engine)
    write_outbox_with_ids(engine, 1, 3)  # 2 was rolled back: it never comes
    consumer = OutboxConsumer(engine, gap_wait=timedelta(seconds=30))
    assert consumer.consume(NOW).cursor == 1
    assert consumer.consume(NOW + timedelta(seconds=29)).cursor == 1
    assert consumer.consume(NOW + timedelta(seconds=31)).cursor == 3
    # A restarted notifier (no memory) starts from the stored cursor and tells nothing twice.
    assert OutboxConsumer(engine).consume(NOW + timedelta(seconds=32)).notified_count == 0
    assert len(notifications(engine)) == 2
