"""Several processes ingesting against one offer budget never overspend it."""

from __future__ import annotations

import multiprocessing as mp
from datetime import timedelta

import pytest
from sqlalchemy import text

from tests.balances import balances
from tests.service.pipeline_world import T0, PipelineWorld

EVENTS_PER_PROCESS = 60


def _ingest(db_url: str, worker: int, results) -> None:
    from matching.events import Source
    from service.db import make_engine
    from service.feeds.pipeline import IngestPipeline
    from service.feeds.records import RawRecord

    engine = make_engine(db_url)
    pipeline = IngestPipeline(engine, batch_events=10)
    records = [
        RawRecord(
            {
                "external_id": f"w{worker}-{i}",
                "kind": "auth",
                "card_id": worker + 1,
                "amount": 1_000 + i,
                "currency": "USD",
                "occurred_at": (T0 + timedelta(seconds=i)).isoformat(),
                "mid": "MID-BB-1",
            },
            "",
            i,
        )
        for i in range(EVENTS_PER_PROCESS)
    ]
    rewarded = sum(o.reward_amount for o in pipeline.ingest(records, Source.NETWORK, T0))
    engine.dispose()
    results.put(rewarded)


@pytest.mark.parametrize("processes", [2, 4])
def test_concurrent_ingest_never_overspends_one_budget(engine, db_url, processes):
    # 60 auths of about $10 at 10% (about 100 each, 6,000+ wanted) per process against a
    # budget of 5,000: batches read it unlocked and reserve at the end, within the limit.
    world = PipelineWorld(engine)
    for member in range(1, processes + 1):
        world.member(member_id=member)
    world.offer(offer_id=10, rate_bps=1_000, budget_amount=5_000)
    engine.dispose()
    ctx = mp.get_context("spawn")
    results = ctx.Queue()
    procs = [ctx.Process(target=_ingest, args=(db_url, w, results)) for w in range(processes)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
        assert p.exitcode == 0
    rewarded = sum(results.get(timeout=5) for _ in procs)
    with engine.connect() as conn:
        reserved = conn.execute(text("SELECT reserved_amount FROM offer_budget")).scalar_one()
    in_ledger = sum(sum(b) for code, b in balances(engine).items() if code.endswith(":pending:USD"))
    assert rewarded == reserved == 5_000
    assert in_ledger == 5_000
    world.assert_balanced()
