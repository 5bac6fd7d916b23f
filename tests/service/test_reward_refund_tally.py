"""Each reward's tally of the refunds that clawed it back (`reward.clawback_refund_count` and
`clawback_refund_amount`): kept by the feed with the event's outcome, derived from the events
by migration 0026 for older rewards, recounted by `clo ledger check`, and what the
attribution report's refunds are read from; on SQLite and PostgreSQL.

Offer 11 at Blue Bottle, 5% back; every purchase $40.00 unless said:
- "twice": cleared, refunded $10.00 then $5.00 -> 2 refunds, $15.00
- "reversed": cleared, then a reversal of $40.00 (the rest of it back) -> 1, $40.00
- "early": an auth refunded $8.00 before its clearing (the pending entry repriced) -> 1, $8.00
- "voided": an auth reversed before clearing (voided, not a clawback) -> 0, $0.00
- "kept": cleared, never refunded -> 0, $0.00
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import Engine, select, update

from service.attribution.service import build_report
from service.feeds.integrity import refund_tally_mismatches
from service.ledger.checks import run_ledger_check
from service.schema import upgrade
from service.tables import CardEventRow
from settlement.tables import Reward
from tests.migrations import downgrade_to
from tests.service.pipeline_world import PipelineWorld

OFFER = 11
_rw = Reward.__table__


def at(day: int, hour: int = 12) -> datetime:
    return datetime(2026, 11, day, hour, tzinfo=UTC)


@pytest.fixture
def world(engine: Engine) -> PipelineWorld:
    w = PipelineWorld(engine)
    w.member(member_id=1)
    w.offer(offer_id=OFFER, starts_at=at(1, 0))
    ev = w.event
    for event, now in [
        (ev("clearing", card=1, amount=4_000, at=at(10), ext="twice"), at(10)),
        (ev("clearing", card=1, amount=4_000, at=at(10, 13), ext="reversed"), at(10, 13)),
        (ev("clearing", card=1, amount=4_000, at=at(10, 14), ext="kept"), at(10, 14)),
        (ev("auth", card=1, amount=4_000, at=at(11), ext="early"), at(11)),
        (ev("auth", card=1, amount=4_000, at=at(11, 13), ext="voided"), at(11, 13)),
        (ev("refund", card=1, amount=1_000, at=at(12), original="twice"), at(12)),
        (ev("refund", card=1, amount=500, at=at(13), original="twice"), at(13)),
        (ev("reversal", card=1, amount=4_000, at=at(12, 13), original="reversed"), at(12, 13)),
        (ev("refund", card=1, amount=800, at=at(12, 14), original="early"), at(12, 14)),
        (ev("reversal", card=1, amount=4_000, at=at(12, 15), original="voided"), at(12, 15)),
    ]:
        [outcome] = w.ingest(event, now=now)
        assert outcome.status == "accepted", outcome
    return w


# Per reward, by the external id of the event that opened it: (count, amount in cents).
EXPECTED = {
    "twice": (2, 1_500),
    "reversed": (1, 4_000),
    "early": (1, 800),
    "voided": (0, 0),
    "kept": (0, 0),
}


def tallies(engine: Engine) -> dict[str, tuple[int, int]]:
    e = CardEventRow.__table__.c
    with engine.connect() as conn:
        rows = conn.execute(
            select(e.external_id, _rw.c.clawback_refund_count, _rw.c.clawback_refund_amount)
            .join_from(CardEventRow.__table__, _rw, _rw.c.id == e.reward_id)
            .where(e.kind.in_(("auth", "clearing")), e.original_external_id.is_(None))
        ).all()
    return {ext: (n, amount) for ext, n, amount in rows}


def test_the_feed_tallies_each_clawback_refund_on_its_reward(world, engine) -> None:
    assert tallies(engine) == EXPECTED
    world.assert_balanced()  # the check recounts them from the events and agrees


def test_the_report_counts_refunds_from_the_tallies(world, engine) -> None:
    """Qualified in November: "twice", "reversed" and "kept" (cleared, booked as posted);
    "early" is still a pending auth (not booked) and "voided" never will be. Refunds of the
    qualified: 3, $55.00 ($10.00 + $5.00 + $40.00)."""
    with engine.connect() as conn:
        [row] = build_report(conn, period_start=at(1, 0), period_end=at(30, 0))
    assert (row.refund_count, row.refund_amount) == (3, 5_500)


def test_the_migration_backfill_matches_what_the_feed_tallies(world, engine) -> None:
    """Downgraded to before the columns, then upgraded: migration 0026 counts the tallies
    from the events, and gets exactly what the feed wrote."""
    written = tallies(engine)
    downgrade_to(engine, "0025")
    upgrade(engine)
    assert tallies(engine) == written == EXPECTED
    world.assert_balanced()


def test_the_ledger_check_catches_a_wrong_tally(world, engine) -> None:
    with engine.begin() as conn:
        conn.execute(
            update(_rw).where(_rw.c.clawback_refund_count == 2).values(clawback_refund_amount=1)
        )
        reward_id = conn.execute(
            select(_rw.c.id).where(_rw.c.clawback_refund_count == 2)
        ).scalar_one()
    with engine.connect() as conn:
        [mismatch] = refund_tally_mismatches(conn)
    assert mismatch == (
        f"reward {reward_id}: 2 clawback refunds of 1 tallied, the events say 2 of 1500"
    )
    check = run_ledger_check(engine, at(20))
    assert not check.balanced
    assert f"MISMATCH {mismatch}" in check.lines()
