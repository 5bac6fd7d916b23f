"""`reward.booked_at`: when a reward's first accrual was booked as posted in the ledger.

Written by the booking code, derived from the ledger by migration 0021 for older rewards, and
checked against the ledger by `clo ledger check`; on SQLite and PostgreSQL.

Offer 11 at Blue Bottle, 5% back. Every event is ingested at its own time ("booked"):
- reward of "paid": a $20.00 clearing ingested Nov 10 12:00: written posted -> Nov 10 12:00
- reward of "late": an auth of $40.00 on Nov 12, cleared as is on Nov 17 10:00 (the pending
  entry resolved posted) -> Nov 17 10:00; refunded in part on Nov 20: still Nov 17 10:00
- reward of "repriced": an auth of $30.00 on Nov 12, cleared at $36.00 on Nov 18 09:00 (the
  pending entry voided, a posted one written) -> Nov 18 09:00
- reward of "reversed": an auth of $10.00 on Nov 13, reversed on Nov 14: never booked -> NULL
- reward of "open": an auth of $50.00 on Nov 19, still pending -> NULL
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import Engine, select, update

from service.schema import upgrade
from settlement.ledger.check import check_ledger
from settlement.tables import Reward
from tests.migrations import downgrade_to
from tests.service.pipeline_world import PipelineWorld

OFFER = 11
_rw = Reward.__table__


def at(day: int, hour: int) -> datetime:
    return datetime(2026, 11, day, hour, tzinfo=UTC)


def booked_by_purchase(engine: Engine) -> dict[int, datetime | None]:
    with engine.connect() as conn:
        return dict(conn.execute(select(_rw.c.spend_amount, _rw.c.booked_at)).all())


@pytest.fixture
def world(engine: Engine) -> PipelineWorld:
    w = PipelineWorld(engine)
    w.member(member_id=1)
    w.offer(offer_id=OFFER, starts_at=at(1, 0))
    events = [
        (w.event("clearing", card=1, amount=2_000, at=at(10, 12), ext="paid"), at(10, 12)),
        (w.event("auth", card=1, amount=4_000, at=at(12, 18), ext="late"), at(12, 18)),
        (w.event("auth", card=1, amount=3_000, at=at(12, 19), ext="repriced"), at(12, 19)),
        (w.event("auth", card=1, amount=1_000, at=at(13, 9), ext="reversed"), at(13, 9)),
        (w.event("reversal", card=1, amount=1_000, at=at(14, 9), original="reversed"), at(14, 9)),
        (
            w.event("clearing", card=1, amount=4_000, at=at(12, 18), ext="late-c", original="late"),
            at(17, 10),
        ),
        (w.event("clearing", card=1, amount=3_600, at=at(12, 19), original="repriced"), at(18, 9)),
        (w.event("auth", card=1, amount=5_000, at=at(19, 8), ext="open"), at(19, 8)),
        (w.event("refund", card=1, amount=1_000, at=at(20, 8), original="late-c"), at(20, 8)),
    ]
    for event, now in events:
        [outcome] = w.ingest(event, now=now)
        assert outcome.status == "accepted", outcome
    return w


# The rewards by their spend ("repriced" is priced on its cleared $36.00).
EXPECTED = {
    2_000: at(10, 12),  # written posted
    4_000: at(17, 10),  # written pending, resolved posted; the refund changes nothing
    3_600: at(18, 9),  # pending voided on repricing, the posted entry's time
    1_000: None,  # reversed: never booked
    5_000: None,  # still pending
}


def test_the_booking_code_writes_the_first_posted_booking(world: PipelineWorld, engine) -> None:
    assert booked_by_purchase(engine) == EXPECTED
    world.assert_balanced()  # the ledger check agrees with every booked_at


def test_the_migration_backfill_matches_what_the_booking_code_writes(world, engine) -> None:
    """Downgraded to before the column, then upgraded: migration 0021 derives booked_at from
    the ledger, and gets exactly what the booking code wrote."""
    written = booked_by_purchase(engine)
    downgrade_to(engine, "0020")
    upgrade(engine)
    assert booked_by_purchase(engine) == written == EXPECTED
    with engine.connect() as conn:
        assert check_ledger(conn).balanced


@pytest.mark.parametrize(
    ("spend", "wrong", "says"),
    [
        (2_000, at(10, 13), "2026-11-10 12:00"),  # another time than the ledger's
        (4_000, None, "2026-11-17 10:00"),  # missing although booked
        (5_000, at(19, 8), "None"),  # set although only pending
    ],
)
def test_the_ledger_check_catches_a_wrong_booked_at(world, engine, spend, wrong, says) -> None:
    with engine.begin() as conn:
        conn.execute(update(_rw).where(_rw.c.spend_amount == spend).values(booked_at=wrong))
        reward_id = conn.execute(select(_rw.c.id).where(_rw.c.spend_amount == spend)).scalar_one()
    with engine.connect() as conn:
        report = check_ledger(conn)
    assert not report.balanced
    [mismatch] = report.reward_booking_mismatches
    assert mismatch.startswith(f"reward {reward_id}: booked_at {wrong}, ")
    assert says in mismatch
    assert f"MISMATCH {mismatch}" in report.lines()
    assert report.lines()[-1] == "ledger balanced: NO"
