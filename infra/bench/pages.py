"""`clo bench pages`: how fast the member app's and the merchant portal's reads are on a big
database.

A fresh database is seeded with a synthetic history (untimed): the world of `clo bench
replay` (merchants, locations, offers) plus members with a card each, and a feed's worth of
card events already matched: rewards, the ledger entries and postings that booked them
(accrual, maturation, clawback on refund), the members' cached balances, purchase history
per brand, activations and reserved budgets. PostgreSQL is written with COPY, SQLite with
big executemany transactions, and the rows stream from a generator, so ten million events
never sit in memory.

Then the same domain functions the pages call are timed, each read in a session of its own
as a request has one: per random member the balance, the activity list and the offer feed;
per random offer the performance figures (daily series and budget) and the attribution
report, after the daily job has counted the holdout offers' populations (untimed, as the
scheduler leaves it). Prints p50 and p99 per read; asserts nothing about time.
"""

from __future__ import annotations

import random
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

from sqlalchemy import Engine, select, text
from sqlmodel import Session

from infra.bench.pages_seed import seed_history
from infra.bench.replay import BENCH_NOW, _fresh_database, _percentile
from service.attribution.population import count_populations
from service.auth import Principal, Role
from service.db import make_engine
from service.members import service as members_service
from service.progress import summary as summary_table
from service.schema import upgrade
from service.tables import Member, Offer
from service.web.app.offer_feed import build_feed
from service.web.i18n import Formatter
from service.web.merchant import performance

ACTIVITY_PAGE = 31  # what the activity page asks for (30 shown, one more to know of more)
WARM_UP_READS = 5  # untimed reads first, so one cold plan cache is not a p99


# -- timing ------------------------------------------------------------------------------------
def _timed(reads: list[Callable[[], object]]) -> list[float]:
    """Milliseconds per read, after a few untimed ones."""
    for read in reads[:WARM_UP_READS]:
        read()
    out = []
    for read in reads:
        t = time.perf_counter()
        read()
        out.append((time.perf_counter() - t) * 1000)
    return out


def _member_reads(engine: Engine, member_ids: list[int]) -> dict[str, list[float]]:
    """Each read in its own session, as each request has one: it loads the member, then
    reads (nothing is left in an identity map from the read before)."""
    fmt = Formatter("en")

    def member(session: Session, member_id: int) -> Member:
        found = session.get(Member, member_id)
        assert found is not None, f"member {member_id} was seeded"
        return found

    def balance(m: int) -> Callable[[], object]:
        def read() -> object:
            with Session(engine) as session:
                return members_service.balances(session, member(session, m))

        return read

    def activity(m: int) -> Callable[[], object]:
        def read() -> object:
            with Session(engine) as session:
                who = Principal(credential_id=0, role=Role.MEMBER, member_id=m)
                return members_service.activity(
                    session, who, member(session, m), before_id=None, limit=ACTIVITY_PAGE
                )

        return read

    def offers(m: int) -> Callable[[], object]:
        def read() -> object:
            with Session(engine) as session:
                return build_feed(session, member(session, m).id or m, fmt, now=BENCH_NOW)

        return read

    return {
        "member balance": _timed([balance(m) for m in member_ids]),
        "member activity (30 events)": _timed([activity(m) for m in member_ids]),
        "member offers (feed)": _timed([offers(m) for m in member_ids]),
    }


def _merchant_reads(engine: Engine, offer_ids: list[int]) -> dict[str, list[float]]:
    """Each read in its own session, loading its offer first, as a request does."""

    def offer(session: Session, offer_id: int) -> Offer:
        found = session.get(Offer, offer_id)
        assert found is not None
        return found

    def figures(offer_id: int) -> Callable[[], object]:
        def read() -> object:
            with Session(engine) as session:
                loaded = offer(session, offer_id)
                start, end = performance.period_of(loaded, BENCH_NOW)
                since = min(start, end - timedelta(days=14))
                days = performance.daily(session, offer_id, since, end)
                return performance.budget(session, loaded, days, BENCH_NOW.date())

        return read

    def attribution(offer_id: int) -> Callable[[], object]:
        def read() -> object:
            with Session(engine) as session:
                loaded = offer(session, offer_id)
                who = Principal(credential_id=0, role=Role.MERCHANT, merchant_id=loaded.merchant_id)
                return performance.attribution(session, who, loaded, BENCH_NOW)

        return read

    with Session(engine) as session:
        holdout = [o for o in offer_ids if offer(session, o).holdout_bps > 0]
    plain = [o for o in offer_ids if o not in holdout]
    out = {
        "merchant performance (daily, budget)": _timed([figures(o) for o in offer_ids]),
        "merchant attribution": _timed([attribution(o) for o in plain]),
    }
    if holdout:
        out["merchant attribution, holdout offers"] = _timed([attribution(o) for o in holdout])
    return out


def _count_holdout_populations(engine: Engine, offer_ids: list[int]) -> None:
    """What the scheduler's daily job leaves behind (untimed): the population of each holdout
    offer to be read counted up to the last settled midnight, so a report hashes only the
    members since. Only those offers: a first count hashes every member once per offer, and
    the synthetic world has thousands of holdout offers (hours at a million members)."""
    t = time.perf_counter()
    with engine.begin() as conn:
        counted = count_populations(conn, BENCH_NOW, offer_ids=offer_ids)
    print(
        f"holdout populations counted for the {counted:,} holdout offers read "
        f"({time.perf_counter() - t:.1f} s, untimed; the daily job's first count)"
    )


def _database_size(engine: Engine, url: str) -> str:
    if engine.dialect.name == "postgresql":
        with engine.connect() as conn:
            size = conn.execute(text("SELECT pg_database_size(current_database())")).scalar_one()
    else:
        size = Path(url.removeprefix("sqlite:///")).stat().st_size
    return f"{size / 2**30:.2f} GiB"


def run_pages_benchmark(
    *,
    events: int,
    members: int,
    offers: int,
    database: str | None,
    reads: int,
    offer_reads: int,
    seed: int,
    keep: bool,
    seeded: str | None = None,
) -> int:
    """With `seeded`, the URL of a database an earlier run kept: only the reads are timed."""
    workdir = Path(tempfile.mkdtemp(prefix="clo-bench-pages-"))
    url, drop = (seeded, lambda: None) if seeded else _fresh_database(database, workdir)
    engine = make_engine(url)
    try:
        if seeded:
            upgrade(engine)  # a later migration's indexes, on the kept rows
            with engine.connect() as conn:
                members = conn.execute(text("SELECT MAX(id) FROM member")).scalar_one()
            print(f"bench pages: reads on the kept database {url}")
        else:
            upgrade(engine)
            t0 = time.perf_counter()
            counts = seed_history(
                engine, url, events=events, members=members, offers=offers, seed=seed
            )
            seed_s = time.perf_counter() - t0
            print(
                f"bench pages: {counts['event']:,} events, {counts['reward']:,} rewards, "
                f"{counts['entry']:,} ledger entries, {counts['posting']:,} postings, "
                f"{members:,} members, {offers:,} offers on {engine.dialect.name} "
                f"(seeding {seed_s:.0f} s, untimed; database {_database_size(engine, url)})"
            )
        rng = random.Random(seed + 1)
        member_ids = rng.sample(range(1, members + 1), min(reads, members))
        with engine.connect() as conn:
            live = list(
                conn.scalars(
                    select(Offer.__table__.c.id)
                    .where(Offer.__table__.c.status == "live")
                    .order_by(Offer.__table__.c.id)
                )
            )
        offer_ids = rng.sample(live, min(offer_reads, len(live)))
        _count_holdout_populations(engine, offer_ids)
        timings = _member_reads(engine, member_ids)
        timings.update(_merchant_reads(engine, offer_ids))
        summary_table(
            [
                (
                    f"{name} p50 / p99",
                    f"{statistics.median(ms):.1f} / {_percentile(ms, 0.99):.1f} ms "
                    f"({len(ms)} reads)",
                )
                for name, ms in timings.items()
            ]
        )
        if keep and not seeded:
            print(f"kept: {url} (time again with --seeded)")
        return 0
    finally:
        engine.dispose()
        if not keep and not seeded:
            drop()
            shutil.rmtree(workdir, ignore_errors=True)
