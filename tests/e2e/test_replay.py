"""Replaying a feed twice, or with duplicates in any order, changes nothing."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import text

from matching.events import Source
from service.feeds.pipeline import IngestPipeline
from service.feeds.records import RawRecord
from service.synthetic import generate_events, seed_world
from settlement.ledger.check import check_ledger
from tests.balances import balances

NOW = datetime(2026, 11, 1, tzinfo=UTC)


def snapshot(engine) -> dict:
    with engine.connect() as conn:
        return {
            "accounts": sorted(balances(engine).items()),
            "events": conn.execute(text("SELECT count(*) FROM card_event")).scalar_one(),
            "entries": conn.execute(text("SELECT count(*) FROM ledger_entry")).scalar_one(),
            "rejected": conn.execute(text("SELECT count(*) FROM rejected_event")).scalar_one(),
            "budgets": sorted(
                map(
                    tuple,
                    conn.execute(
                        text("SELECT offer_id, reserved_amount, redemption_count FROM offer_budget")
                    ),
                )
            ),
        }


def records(events: list[dict]) -> list[RawRecord]:
    return [RawRecord(dict(e), json.dumps(e), i) for i, e in enumerate(events)]


@settings(
    max_examples=6, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(seed=st.integers(0, 10_000), batch=st.sampled_from([7, 50, 500]))
def test_property_replaying_with_duplicates_in_any_order_changes_nothing(engine, seed, batch):
    with engine.connect() as conn:
        fresh = conn.execute(text("SELECT count(*) FROM merchant")).scalar_one() == 0
    if fresh:
        world = seed_world(
            engine, seed=1, now=NOW - timedelta(days=30), merchants=10, offers=28, members=40
        )
        events = list(generate_events(world, seed=1, count=600, start=NOW - timedelta(days=30)))
        pipeline = IngestPipeline(engine, batch_events=100)
        list(pipeline.ingest(records(events), Source.FILE, NOW))
        engine.info = {"events": events}
    events = engine.info["events"]
    before = snapshot(engine)
    assert before["entries"] > 0
    rng = random.Random(seed)
    again = events + rng.sample(events, len(events) // 3)
    rng.shuffle(again)
    outcomes = list(
        IngestPipeline(engine, batch_events=batch).ingest(records(again), Source.FILE, NOW)
    )
    assert {o.status for o in outcomes} <= {"duplicate", "rejected"}
    assert snapshot(engine) == before
    with engine.connect() as conn:
        assert check_ledger(conn).balanced
