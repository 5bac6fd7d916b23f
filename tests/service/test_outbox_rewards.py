"""Every reward change leaves one outbox row, in the transaction that made it.

5% cashback, 20% commission; the hold and the auth expiry are the world's defaults. The
numbers: auth $40.00 -> pending 200; refund $10.00 before clearing -> pending 150; the
clearing -> posted 150; after the hold -> 150 available; a second auth of $20.00 that is
never cleared expires -> voided 100; a refund of the posted purchase after it matured claws
back what it takes (a $20.00 refund of the $30.00 left: 100).
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from settlement.maturation import run_maturation
from settlement.outbox import OutboxEvent, public_event_id
from tests.service.pipeline_world import T0, PipelineWorld

DAY = timedelta(days=1)


def outbox(world: PipelineWorld) -> list[tuple]:
    t = OutboxEvent.__table__
    with world.engine.connect() as conn:
        rows = conn.execute(
            select(
                t.c.id, t.c.type, t.c.member_id, t.c.offer_id, t.c.amount_minor, t.c.currency
            ).order_by(t.c.id)
        ).all()
    return [tuple(r) for r in rows]


def test_reward_changes_are_written_to_the_outbox_in_order(engine):
    world = PipelineWorld(engine)
    world.member(member_id=1)
    world.offer(offer_id=10)
    world.ingest(world.event(card=1, amount=4_000, ext="a1"))
    world.ingest(world.event("refund", card=1, amount=1_000, ext="f1", original="a1"))
    world.ingest(
        world.event("clearing", card=1, amount=4_000, ext="c1", original="a1", at=T0 + DAY)
    )
    world.ingest(world.event(card=1, amount=2_000, ext="a2", at=T0 + DAY))
    run_maturation(engine, T0 + 60 * DAY)
    world.ingest(
        world.event("refund", card=1, amount=2_000, ext="f2", original="c1", at=T0 + 61 * DAY),
        now=T0 + 61 * DAY,
    )

    rows = outbox(world)
    assert [(r[1], r[4]) for r in rows] == [
        ("reward.pending", 200),
        ("reward.pending", 150),
        ("reward.posted", 150),
        ("reward.pending", 100),
        ("reward.voided", 100),
        ("reward.available", 150),
        ("reward.clawed_back", 100),
    ]
    assert {(r[2], r[3], r[5]) for r in rows} == {(1, 10, "USD")}
    ids = [r[0] for r in rows]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    assert public_event_id(ids[0]) == f"evt_{ids[0]:012d}"


def test_a_duplicate_event_tells_nothing_twice(engine):
    world = PipelineWorld(engine)
    world.member(member_id=1)
    world.offer(offer_id=10)
    world.ingest(world.event(card=1, amount=4_000, ext="a1"))
    # The same event again is a duplicate: no change, so nothing is told twice.
    world.ingest(world.event(card=1, amount=4_000, ext="a1"))
    assert [r[1] for r in outbox(world)] == ["reward.pending"]


def test_a_budget_crossing_80_percent_and_then_used_up_is_told_once_each(engine):
    # Budget 1,000 of cashback at 5%: $100.00 -> 500 reserved (50%, nothing told); $70.00 ->
    # 850 (85%: low); $20.00 -> 950 (still low: not told again); $20.00 -> 1,000 capped at the
    # 50 left (used up: exhausted).
    world = PipelineWorld(engine)
    world.member(member_id=1)
    world.offer(offer_id=10, budget_amount=1_000)
    world.ingest(world.event(card=1, amount=10_000))
    assert [r[1] for r in outbox(world) if r[1].startswith("offer.")] == []
    world.ingest(world.event(card=1, amount=7_000))
    world.ingest(world.event(card=1, amount=2_000))
    [last] = world.ingest(world.event(card=1, amount=2_000))
    assert last.reward_amount == 50
    told = [(r[1], r[3], r[4]) for r in outbox(world) if r[1].startswith("offer.")]
    assert told == [("offer.budget_low", 10, 850), ("offer.budget_exhausted", 10, 1_000)]
