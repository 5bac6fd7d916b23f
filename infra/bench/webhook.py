"""`clo bench webhook`: how fast a served API acknowledges signed batches of card events, on
a database with history, and whether every event was stored once.

A fresh database (a file for SQLite, a new database on the `--database` PostgreSQL server)
gets the replay benchmark's seeded world and `--history-events` events through the
production pipeline before the clock starts, so the duplicate check and the look-ups of
originals, rewards and balances run against tables that are not empty. The database is then
either left as it is, never analysed (on PostgreSQL autovacuum is off for every table, so it
stays that way through the run), or analysed (`--analyse`: VACUUM ANALYZE, or SQLite's
ANALYZE). The API runs as infra/deploy runs it, gunicorn with `--workers` uvicorn workers on
127.0.0.1. The client is open-loop: batch n leaves at start + n * batch / rate whatever became
of the ones before (a slow answer does not hold back the next send), each signed as a card
network signs it. Latency is from a batch's scheduled send to its answer, so a client that
falls behind its schedule counts against the server, not for it. Afterwards every event sent
is looked for in `card_event`: lost (not stored) and doubled (stored twice) must both be 0.
Prints figures; asserts nothing about time.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import shutil
import sys
import tempfile
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from sqlalchemy import Engine, func, select, text

from infra.bench import served
from infra.bench.replay import _fresh_database
from infra.mail.smtp_sink import free_port
from matching.events import Source
from service.config import get_settings
from service.db import make_engine
from service.feeds.records import record_from_json_value
from service.runtime import process_pipeline
from service.schema import upgrade
from service.synthetic import generate_events, seed_world
from service.tables import CardEventRow

OFFERS = 1_000
MEMBERS = 50_000
HISTORY_BATCH_EVENTS = 20_000
# Untimed batches first, a few per worker: each loads its offer catalogue and opens its
# database connections on its first batches, as a server in service has long done.
WARMUP_BATCHES_PER_WORKER = 4
# A slow answer is waited for (sending again would only add work to a server behind); a
# dropped connection or a 5xx is retried.
ANSWER_TIMEOUT_S = 600
# Workers import the application before they answer: slow when the machine is busy.
STARTUP_TIMEOUT_S = 300
ATTEMPTS = 3
RETRY_AFTER_S = 1.0
_events = CardEventRow.__table__


@dataclass
class Answers:
    """What came back: latency per batch, and what the server said of each event."""

    latency_s: list[float] = field(default_factory=list)
    send_lag_s: list[float] = field(default_factory=list)  # actual send - scheduled send
    statuses: Counter[str] = field(default_factory=Counter)
    accepted: Counter[str] = field(default_factory=Counter)  # external id -> times accepted
    refused: Counter[str] = field(default_factory=Counter)
    retried: Counter[str] = field(default_factory=Counter)  # why a request was sent again


def _seed(engine: Engine, *, seed: int, history: int, live: int, now: datetime) -> list[dict]:
    """The world and its history, stored; returns the events to post, which follow the
    history (clearings, refunds and reversals of stored auths among them)."""
    world = seed_world(
        engine,
        seed=seed,
        now=now - timedelta(days=40),
        merchants=OFFERS // 5,
        offers=OFFERS,
        members=MEMBERS,
    )
    events = list(
        generate_events(
            world,
            seed=seed,
            count=history + live,
            start=now - timedelta(days=31),
            duplicate_share=0,
            malformed_share=0,
        )
    )
    pipeline = process_pipeline(engine, get_settings(), batch_events=HISTORY_BATCH_EVENTS)
    records = (record_from_json_value(e, json.dumps(e), i) for i, e in enumerate(events[:history]))
    for _ in pipeline.ingest(records, Source.NETWORK, now):
        pass
    return events[history:]


def _autovacuum_off(engine: Engine) -> None:
    """Per table (PostgreSQL has no per-database switch): nothing analyses behind our back."""
    with engine.begin() as conn:
        tables = conn.execute(
            text("SELECT tablename FROM pg_tables WHERE schemaname = current_schema()")
        ).scalars()
        for table in list(tables):
            conn.exec_driver_sql(f'ALTER TABLE "{table}" SET (autovacuum_enabled = false)')


def _analyse(engine: Engine) -> None:
    with engine.connect() as conn:
        conn = conn.execution_options(isolation_level="AUTOCOMMIT")
        conn.exec_driver_sql("VACUUM ANALYZE" if conn.dialect.name == "postgresql" else "ANALYZE")


async def _warm_up(
    base: str, feed_key: str, bodies: list[tuple[list[str], bytes]], workers: int
) -> None:
    async with httpx.AsyncClient(base_url=base, timeout=60) as client:
        for start in range(0, len(bodies), workers):
            answers = await asyncio.gather(
                *(
                    client.post(
                        served.WEBHOOK_PATH, content=body, headers=served.signed(feed_key, body)
                    )
                    for _, body in bodies[start : start + workers]
                )
            )
            for resp in answers:
                resp.raise_for_status()


async def _post_all(
    base: str, feed_key: str, bodies: list[tuple[list[str], bytes]], rate: float, batch: int
) -> tuple[Answers, float]:
    """Send batch n at start + n * batch / rate, each on its own task: open loop."""
    answers = Answers()
    limits = httpx.Limits(max_connections=256, max_keepalive_connections=256)

    async def send(client: httpx.AsyncClient, due: float, ids: list[str], body: bytes) -> None:
        answers.send_lag_s.append(time.monotonic() - due)
        for attempt in range(1, ATTEMPTS + 1):
            # A dropped connection or a 5xx is sent again, as a network does; the webhook is
            # idempotent by event id, so a batch stored already is reported as duplicates.
            try:
                resp = await client.post(
                    served.WEBHOOK_PATH, content=body, headers=served.signed(feed_key, body)
                )
            except httpx.TransportError as exc:
                failure = f"{type(exc).__name__}"
            else:
                if resp.status_code < 500:
                    break
                failure = f"{resp.status_code} {resp.text[:120]}"
            if attempt == ATTEMPTS:
                answers.refused[failure] += 1
                return
            answers.retried[failure] += 1
            await asyncio.sleep(RETRY_AFTER_S)
        answers.latency_s.append(time.monotonic() - due)
        if resp.status_code != 200:
            answers.refused[f"{resp.status_code} {resp.text[:120]}"] += 1
            return
        for external_id, result in zip(ids, resp.json()["results"], strict=True):
            answers.statuses[result["status"]] += 1
            if result["status"] == "accepted":
                answers.accepted[external_id] += 1

    async with httpx.AsyncClient(base_url=base, timeout=ANSWER_TIMEOUT_S, limits=limits) as client:
        start = time.monotonic() + 0.5
        tasks = []
        for n, (ids, body) in enumerate(bodies):
            due = start + n * batch / rate
            await asyncio.sleep(max(0.0, due - time.monotonic()))
            tasks.append(asyncio.create_task(send(client, due, ids, body)))
        await asyncio.gather(*tasks)
    return answers, time.monotonic() - start


def _stored(engine: Engine, external_ids: set[str]) -> Counter[str]:
    """How many card_event rows each external id sent has."""
    stored: Counter[str] = Counter()
    with engine.connect() as conn:
        for external_id, rows in conn.execute(
            select(_events.c.external_id, func.count())
            .where(_events.c.source == Source.NETWORK.value)
            .group_by(_events.c.external_id)
        ):
            if external_id in external_ids:
                stored[external_id] = rows
    return stored


def run_webhook_benchmark(
    *,
    rate: float,
    seconds: float,
    batch: int,
    workers: int,
    database: str | None,
    history_events: int,
    analyse: bool,
    seed: int = 13,
) -> int:
    workdir = Path(tempfile.mkdtemp(prefix="clo-bench-webhook-"))
    url, drop = _fresh_database(database, workdir)
    engine = make_engine(url)
    try:
        upgrade(engine)
        if engine.dialect.name == "postgresql":
            _autovacuum_off(engine)
        now = datetime.now(UTC)
        live = int(rate * seconds)
        warmup = WARMUP_BATCHES_PER_WORKER * workers * batch
        t0 = time.perf_counter()
        events = _seed(engine, seed=seed, history=history_events, live=warmup + live, now=now)
        if analyse:
            _analyse(engine)
        setup_s = time.perf_counter() - t0
        engine.dispose()  # the servers are the only users from here on
        bodies = [
            (
                [str(e["external_id"]) for e in events[i : i + batch]],
                json.dumps({"events": events[i : i + batch]}).encode(),
            )
            for i in range(0, len(events), batch)
        ]
        warmup_bodies, bodies = bodies[: warmup // batch], bodies[warmup // batch :]
        print(
            f"bench webhook: {history_events:,} events of history, {OFFERS:,} offers, "
            f"{MEMBERS:,} members on {engine.dialect.name}, "
            f"{'analysed' if analyse else 'never analysed'} (setup {setup_s:.1f} s, untimed)"
        )

        feed_key = secrets.token_urlsafe(32)
        (workdir / "metrics").mkdir()  # the workers' Prometheus files, as start.sh makes it
        port = free_port("127.0.0.1")
        base = f"http://127.0.0.1:{port}"
        env = served.server_env(
            url,
            port,
            feed_key,
            CLO_API_BIND=f"127.0.0.1:{port}",
            CLO_API_WORKERS=str(workers),
            PROMETHEUS_MULTIPROC_DIR=str(workdir / "metrics"),
        )
        log = workdir / "serve.log"
        servers = served.start([served.gunicorn_command()], env, log)
        try:
            served.wait_up(base, servers, "clo bench webhook", timeout_s=STARTUP_TIMEOUT_S)
            print(
                f"posting {live:,} events at {rate:g}/s, {batch} per signed request, for "
                f"{seconds:g} s to {base} (gunicorn, {workers} uvicorn workers), open loop"
            )
            _run_async(_warm_up(base, feed_key, warmup_bodies, workers))
            answers, elapsed = _run_async(_post_all(base, feed_key, bodies, rate, batch))
        except BaseException:
            tail = log.read_text(errors="replace")[-3000:]
            print(f"the server's log ends:\n{tail}", file=sys.stderr)
            raise
        finally:
            served.stop(servers)

        sent = {external_id for ids, _ in warmup_bodies + bodies for external_id in ids}
        stored = _stored(engine, sent)
        lost = len(sent - set(stored))
        doubled = sum(n - 1 for n in stored.values() if n > 1)
        accepted_twice = sum(1 for n in answers.accepted.values() if n > 1)
        timed = sum(len(ids) for ids, _ in bodies)
        print(
            f"sent       {timed:>7,} events in {len(bodies):,} requests over {elapsed:.1f} s "
            f"({timed / elapsed:,.0f}/s), after {len(sent) - timed:,} untimed to warm up; "
            f"sent again {answers.retried.total():,}"
        )
        for reason, n in answers.retried.most_common(5):
            print(f"  sent again {n:>5,} after: {reason}")
        for reason, n in answers.refused.most_common(5):
            print(f"  requests refused {n:>5,}: {reason}")
        error = served.last_error(log)
        if (answers.refused or answers.retried) and error is not None:
            print(f"the server's last error: {error}")
        print(
            "answers    "
            + ", ".join(f"{status} {n:,}" for status, n in sorted(answers.statuses.items()))
        )
        print(served.figures("acknowledgement", answers.latency_s))
        print(f"{'send lag (client) max':<28} {max(answers.send_lag_s, default=0) * 1000:.0f} ms")
        print(f"events lost {lost:,}   doubled {doubled:,}   accepted twice {accepted_twice:,}")
        return 0 if not (lost or doubled or accepted_twice or answers.refused) else 1
    finally:
        engine.dispose()
        drop()
        shutil.rmtree(workdir, ignore_errors=True)


def _run_async(coroutine):
    """Run the client's event loop on a thread of its own: the caller's thread may already
    run one (a test process that drove a browser, say), where `asyncio.run` refuses."""
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="bench-client") as pool:
        return pool.submit(asyncio.run, coroutine).result()
