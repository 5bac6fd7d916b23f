"""`clo ingest --workers N`: one feed split by member across N processes.

A member's cards always land in the same shard (member id mod N), so caps, counters and brand
history stay exact within one process, and concurrent batches touch different members' rows.
The parent reads the file, routes each record by its card's holder and hands batches to the
workers over bounded queues; each worker is a process with its own pipeline (offer catalog,
account directory) and connections, and sends back its summary and stage times. A record whose
card is unknown or unreadable goes to shard 0, which rejects it with its reason. Budgets are
shared across shards: each batch reserves its offers' amounts once decided, within their limits,
in a short transaction committed ahead of the batch (`settlement.budget_holds`), so N workers
never overspend and never wait for each other's writes.
"""

from __future__ import annotations

import multiprocessing as mp
import queue
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import Engine, select

from matching.events import Source
from service.feeds.pipeline import IngestSummary
from service.feeds.records import RawRecord
from service.feeds.stages import StageClock
from service.tables import Card

QUEUED_BATCHES_PER_WORKER = 2
WAIT_S = 1.0


def shard_of(member_id: int, shards: int) -> int:
    return member_id % shards


@dataclass
class ShardedResult:
    summary: IngestSummary = field(default_factory=IngestSummary)
    clock: StageClock = field(default_factory=StageClock)
    peak_rss_mib: list[float] = field(default_factory=list)  # one per worker


class WorkerFailed(RuntimeError):
    pass


def card_holders(engine: Engine) -> dict[int, int]:
    """Card id -> member id, for routing (unlinked cards too: their events are refused by the
    shard that owns the member, with the reason)."""
    with engine.connect() as conn:
        return dict(conn.execute(select(Card.__table__.c.id, Card.__table__.c.member_id)).all())


def _card_id(record: RawRecord) -> int | None:
    value = record.fields.get("card_id") if record.fields else None
    if not isinstance(value, int | str) or isinstance(value, bool):
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def ingest_sharded(
    database_url: str,
    engine: Engine,
    records: Iterable[RawRecord],
    source: Source,
    now: datetime,
    *,
    workers: int,
    batch_events: int,
    on_progress: Callable[[int], None] | None = None,
) -> ShardedResult:
    """Ingest `records` with `workers` processes; returns their summed summary and stage times."""
    holders = card_holders(engine)
    ctx = mp.get_context("spawn")
    inboxes = [ctx.Queue(maxsize=QUEUED_BATCHES_PER_WORKER) for _ in range(workers)]
    results = ctx.Queue()
    processes = [
        ctx.Process(
            target=_worker,
            args=(database_url, source.value, now, batch_events, n, inbox, results),
            name=f"clo-ingest-shard-{n}",
        )
        for n, inbox in enumerate(inboxes)
    ]
    for p in processes:
        p.start()
    try:
        pending: list[list[RawRecord]] = [[] for _ in range(workers)]
        for routed, record in enumerate(records, 1):
            card_id = _card_id(record)
            member_id = holders.get(card_id) if card_id is not None else None
            shard = 0 if member_id is None else shard_of(member_id, workers)
            pending[shard].append(record)
            if len(pending[shard]) >= batch_events:
                _send(inboxes[shard], pending[shard], processes[shard])
                pending[shard] = []
            if on_progress is not None and routed % 5000 == 0:
                on_progress(routed)
        for shard, batch in enumerate(pending):
            if batch:
                _send(inboxes[shard], batch, processes[shard])
            _send(inboxes[shard], None, processes[shard])
        result = ShardedResult()
        for _ in processes:
            summary, clock, peak = _receive(results, processes)
            result.summary.merge(summary)
            result.clock.merge(clock)
            result.peak_rss_mib.append(peak)
        for p in processes:
            p.join()
        return result
    finally:
        for inbox in inboxes:
            inbox.cancel_join_thread()  # a stopped worker leaves batches unread: do not wait
        for p in processes:
            if p.is_alive():
                p.terminate()


def _send(inbox, batch: list[RawRecord] | None, process) -> None:
    while True:
        try:
            inbox.put(batch, timeout=WAIT_S)
            return
        except queue.Full:
            if not process.is_alive():
                stopped = f"{process.name} stopped (exit code {process.exitcode})"
                raise WorkerFailed(stopped) from None


def _receive(results, processes):
    while True:
        try:
            return results.get(timeout=WAIT_S)
        except queue.Empty:
            dead = [p for p in processes if not p.is_alive() and p.exitcode != 0]
            if dead:
                stopped = f"{dead[0].name} stopped (exit code {dead[0].exitcode})"
                raise WorkerFailed(stopped) from None


def _worker(database_url, source_value, now, batch_events, shard, inbox, results) -> None:
    """One shard: its own engine and pipeline (and balance slot), fed batches until None."""
    from service.config import get_settings
    from service.db import make_engine
    from service.observability.memory import peak_rss_mib
    from service.runtime import process_pipeline, tune_garbage_collector
    from settlement.ledger.slots import process_slot

    tune_garbage_collector()
    engine = make_engine(database_url)
    pipeline = process_pipeline(
        engine, get_settings(), batch_events=batch_events, balance_slot=process_slot(shard)
    )
    source = Source(source_value)
    summary = IngestSummary()
    while (batch := inbox.get()) is not None:
        for outcome in pipeline.ingest_batch(batch, source, now):
            summary.add(outcome)
    engine.dispose()
    results.put((summary, pipeline.clock, peak_rss_mib()))
