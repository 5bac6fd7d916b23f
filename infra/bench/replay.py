"""`clo bench replay`: a seeded feed through the production batch path, with figures.

What is timed is exactly what `clo ingest` runs: read the CSV, parse, drop duplicates, match,
write events, rewards, ledger postings and balances, commit per batch. Seeding the world and
writing the feed file happen before the clock starts.
"""

from __future__ import annotations

import shutil
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
from sqlalchemy import func, select

from infra.bench.locks import LockWaitSampler
from matching.events import CardEvent, EventRejected, Source, parse_event
from service.config import get_settings
from service.db import make_engine, normalize_url
from service.feeds.batch import Row
from service.feeds.context import load_cards
from service.feeds.pipeline import (
    EVENT_COLUMNS,
    IngestPipeline,
    IngestSummary,
    card_event_row,
    card_number_field,
    prepare_ingest_connection,
)
from service.feeds.records import open_feed, read_feed
from service.feeds.shards import ingest_sharded
from service.feeds.stages import STAGES, StageClock
from service.observability.memory import peak_rss_mib
from service.offers.catalog import OfferCatalog
from service.progress import summary as summary_table
from service.progress import tracked
from service.runtime import process_pipeline
from service.schema import upgrade
from service.synthetic import generate_events, seed_world, write_csv
from service.tables import CardEventRow
from settlement.ledger.bulk import bulk_insert
from settlement.ledger.check import check_ledger
from settlement.ledger.ids import allocate_ids

BENCH_NOW = datetime(2026, 11, 1, tzinfo=UTC)
_events = CardEventRow.__table__


def _fresh_database(url: str | None, workdir: Path) -> tuple[str, Callable[[], None]]:
    """A new empty database: a file for SQLite, a new database on the given PostgreSQL server."""
    if not url or url.startswith("sqlite"):
        return f"sqlite:///{workdir / 'bench.db'}", lambda: None
    admin = normalize_url(url).replace("postgresql+psycopg://", "postgresql://")
    name = f"clo_bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')

    def drop() -> None:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    return admin.rsplit("/", 1)[0] + "/" + name, drop


def _percentile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def run_replay_benchmark(
    *,
    events: int,
    offers: int,
    database: str | None,
    seed: int,
    batch_events: int | None,
    floor: bool = False,
    workers: int = 1,
) -> int:
    batch_events = batch_events or get_settings().ingest_batch_events
    workdir = Path(tempfile.mkdtemp(prefix="clo-bench-"))
    url, drop = _fresh_database(database, workdir)
    engine = make_engine(url)
    try:
        upgrade(engine)
        merchants = max(20, offers // 5)
        members = 50_000
        t0 = time.perf_counter()
        world = seed_world(
            engine,
            seed=seed,
            now=BENCH_NOW - timedelta(days=30),
            merchants=merchants,
            offers=offers,
            members=members,
        )
        feed = workdir / "feed.csv"
        written = write_csv(
            feed,
            generate_events(world, seed=seed, count=events, start=BENCH_NOW - timedelta(days=30)),
        )
        setup_s = time.perf_counter() - t0
        print(
            f"bench replay: {written:,} events, {offers:,} offers, {merchants:,} merchants, "
            f"{members:,} members on {engine.dialect.name} (setup {setup_s:.1f} s, untimed)"
        )

        if floor:
            _print_floor(engine, feed, batch_events)
            return 0
        waits = LockWaitSampler(url) if engine.dialect.name == "postgresql" else nullcontext()
        started = time.perf_counter()
        with waits:
            if workers > 1:
                run = _sharded_run(url, engine, feed, batch_events, workers)
            else:
                run = _one_process_run(engine, feed, batch_events)
        elapsed = time.perf_counter() - started
        summary = run.summary
        lock_wait_s = waits.waiting_s if isinstance(waits, LockWaitSampler) else None
        waited = waits.top(4) if isinstance(waits, LockWaitSampler) else []

        with engine.connect() as conn:
            at_offer = conn.execute(
                select(func.count())
                .select_from(_events)
                .where(_events.c.outcome != "no_offer", _events.c.merchant_id.is_not(None))
            ).scalar_one()
            report = check_ledger(conn)
        batches = run.batch_seconds
        rows = [
            ("events/s", f"{summary.received / elapsed:,.0f}"),
            ("wall time", f"{elapsed:.2f} s ({workers} ingest process{'es' * (workers > 1)})"),
        ]
        if batches:
            per_event_us = [t / n * 1e6 for t, n in zip(batches, run.batch_sizes, strict=True)]
            rows += [
                (
                    "batch commit latency p50/p99",
                    f"{_percentile(batches, 0.5) * 1000:.1f} / "
                    f"{_percentile(batches, 0.99) * 1000:.1f} ms ({batch_events:,} events per "
                    "batch; an event waits for its batch)",
                ),
                (
                    "per-event cost p50/p99",
                    f"{statistics.median(per_event_us):.1f} / "
                    f"{_percentile(per_event_us, 0.99):.1f} us (batch time / batch size)",
                ),
            ]
        rows += [
            ("peak memory (max RSS)", " + ".join(f"{m:,.0f} MiB" for m in run.peak_rss_mib)),
            (
                "lock wait",
                f"{run.clock.seconds['begin']:.2f} s waiting for the write lock (begin stage)"
                if lock_wait_s is None
                else f"{lock_wait_s:.2f} s backend-seconds (sampled every 5 ms), "
                f"{lock_wait_s / max(run.batches, 1) * 1000:.1f} ms per batch",
            ),
            *((f"  waited in {statement}", f"{seconds:.2f} s") for statement, seconds in waited),
            (
                "batches decided again",
                ", ".join(f"{k} {v:,}" for k, v in run.clock.retries.items()) or "none",
            ),
            (
                "accepted / duplicates / rejected",
                f"{summary.accepted:,} / {summary.duplicates:,} / {summary.rejected:,}",
            ),
            ("events at a live-offer location", f"{at_offer / max(summary.accepted, 1):.1%}"),
            ("events rewarded (qualifying)", f"{summary.rewarded / max(summary.accepted, 1):.1%}"),
        ]
        summary_table(rows)
        _print_stages(run.clock, summary.received, workers)
        print(
            f"ledger balanced: {'yes' if report.balanced else 'NO'} "
            f"({report.entries:,} entries, {report.postings:,} postings)"
        )
        return 0 if report.balanced else 1
    finally:
        engine.dispose()
        drop()
        shutil.rmtree(workdir, ignore_errors=True)


@dataclass
class Run:
    summary: IngestSummary
    clock: StageClock
    peak_rss_mib: list[float]
    batches: int
    batch_seconds: list[float] = field(default_factory=list)  # one process only
    batch_sizes: list[int] = field(default_factory=list)


def _one_process_run(engine, feed: Path, batch_events: int) -> Run:
    pipeline = process_pipeline(engine, get_settings(), batch_events=batch_events)
    run = Run(IngestSummary(), pipeline.clock, [], 0)
    stream, fmt = open_feed(feed)
    with stream, tracked("replay", feed.stat().st_size) as tracker:
        batch = []
        for record in read_feed(stream, fmt):
            batch.append(record)
            if len(batch) >= batch_events:
                _timed_batch(pipeline, batch, run)
                batch = []
                tracker.update(stream.tell(), run.summary.received)
        if batch:
            _timed_batch(pipeline, batch, run)
        tracker.update(tracker.total, run.summary.received)
    run.peak_rss_mib.append(peak_rss_mib())
    return run


def _sharded_run(url: str, engine, feed: Path, batch_events: int, workers: int) -> Run:
    stream, fmt = open_feed(feed)
    with stream, tracked("replay", feed.stat().st_size) as tracker:
        result = ingest_sharded(
            url,
            engine,
            read_feed(stream, fmt),
            Source.FILE,
            BENCH_NOW,
            workers=workers,
            batch_events=batch_events,
            on_progress=lambda n: tracker.update(stream.tell(), n),
        )
        tracker.update(tracker.total, result.summary.received)
    batches = -(-result.summary.received // batch_events)
    return Run(result.summary, result.clock, [peak_rss_mib(), *result.peak_rss_mib], batches)


def _timed_batch(pipeline: IngestPipeline, batch: list, run: Run) -> None:
    t = time.perf_counter()
    for outcome in pipeline.ingest_batch(batch, Source.FILE, BENCH_NOW):
        run.summary.add(outcome)
    run.batch_seconds.append(time.perf_counter() - t)
    run.batch_sizes.append(len(batch))
    run.batches += 1


def _print_stages(clock: StageClock, events: int, workers: int) -> None:
    """Microseconds per event in each stage, summed over the processes (CPU and waiting)."""
    total = sum(clock.seconds.values())
    rows = [
        (stage, f"{clock.seconds[stage] / max(events, 1) * 1e6:.1f} us")
        for stage in STAGES
        if stage in clock.seconds
    ]
    rows.append(("all stages", f"{total / max(events, 1) * 1e6:.1f} us per event"))
    if workers > 1:
        rows.append(("", f"summed over {workers} processes; reading and routing not included"))
    summary_table(rows, title="per-stage cost")


def _print_floor(engine, feed: Path, batch_events: int) -> None:
    """What every event costs before any matching, reward or ledger work: reading its line,
    parsing and checking it, and storing its row (same table, indexes, foreign keys and page
    cache, one commit per batch). No design of the feed in this stack can go faster than this."""
    stream, fmt = open_feed(feed)
    t = time.perf_counter()
    with stream:
        records = [
            r.fields for r in read_feed(stream, fmt) if r.error is None and r.fields is not None
        ]
    read_s = time.perf_counter() - t

    t = time.perf_counter()
    parsed: dict[str, CardEvent] = {}
    for fields in records:
        try:
            event = parse_event(fields, Source.FILE)
        except EventRejected:
            continue
        if card_number_field(event) is None:
            parsed.setdefault(event.external_id, event)
    parse_s = time.perf_counter() - t

    with engine.connect() as conn:  # untimed: who holds each card, where each event happened
        cards = load_cards(conn, (e.card_id for e in parsed.values()))
        index = OfferCatalog().current(conn)
    rows = [
        Row(0, e, cards[e.card_id].member_id, index.brand_for(e), outcome="no_offer")
        for e in parsed.values()
        if e.card_id in cards
    ]
    t = time.perf_counter()
    for start in range(0, len(rows), batch_events):
        batch = rows[start : start + batch_events]
        with engine.begin() as conn:
            prepare_ingest_connection(conn)
            for row, event_id in zip(batch, allocate_ids(conn, _events, len(batch)), strict=True):
                row.id = event_id
            bulk_insert(
                conn,
                _events,
                EVENT_COLUMNS,
                [card_event_row(r, Source.FILE, BENCH_NOW) for r in batch],
            )
    store_s = time.perf_counter() - t

    read_us, parse_us, store_us = (s / len(records) * 1e6 for s in (read_s, parse_s, store_s))
    print(f"read the line                 {read_us:>8.1f} us per event")
    print(f"parse and check it            {parse_us:>8.1f} us per event")
    print(f"store its card_event row      {store_us:>8.1f} us per event")
    print(f"floor, one process            {1e6 / (read_us + parse_us + store_us):>8,.0f} events/s")
    print(
        f"floor, reading and parsing beside storing on two cores "
        f"{1e6 / max(read_us + parse_us, store_us):,.0f} events/s"
    )
