"""`clo bench pages`: how fast the member app's and the merchant portal's reads are on a big
database.

A fresh database is seeded with a synthetic history (untimed): the world of `clo bench
replay` (merchants, locations, offers) plus members with a card each, and a feed's worth of
card events already matched: rewards, the ledger entries and postings that booked them
(accrual, maturation, clawback on refund), the members' cached balances, purchase history
per brand, activations and reserved budgets. PostgreSQL is written with COPY, SQLite with
big executemany transactions, and the rows stream from a generator, so ten million events
never sit in memory.

Then the same domain functions the pages call are timed, with a session as a request has
one: per random member the balance, the activity list and the offer feed; per random offer
the performance figures (daily series and budget) and the attribution report, after the
daily job has counted the holdout offers' populations (untimed, as the scheduler leaves
it). Prints p50 and p99 per read; asserts nothing about time.
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


def _member_reads(session: Session, member_ids: list[int]) -> dict[str, list[float]]:
    fmt = Formatter("en")
    loaded: dict[int, Member] = {}
    for m in member_ids:
        member = session.get(Member, m)
        assert member is not None, f"member {m} was seeded"
        loaded[m] = member

    def principal(member_id: int) -> Principal:
        return Principal(credential_id=0, role=Role.MEMBER, member_id=member_id)

    def balance(m: int) -> Callable[[], object]:
        return lambda: members_service.balances(session, loaded[m])

    def activity(m: int) -> Callable[[], object]:
        return lambda: members_service.activity(
            session,
            principal(m),
            loaded[m],
            before_id=None,
            limit=ACTIVITY_PAGE,
        )

    def offers(m: int) -> Callable[[], object]:
        return lambda: build_feed(session, m, fmt, now=BENCH_NOW)

    return {
        "member balance": _timed([balance(m) for m in member_ids]),
        "member activity (30 events)": _timed([activity(m) for m in member_ids]),
        "member offers (feed)": _timed([offers(m) for m in member_ids]),
    }


def _merchant_reads(session: Session, offer_ids: list[int]) -> dict[str, list[float]]:
    loaded = {o: session.get(Offer, o) for o in offer_ids}

    def figures(offer_id: int) -> Callable[[], object]:
        def read() -> object:
            offer = loaded[offer_id]
            assert offer is not None
            start, end = performance.period_of(offer, BENCH_NOW)
            days = performance.daily(session, offer_id, min(start, end - timedelta(days=14)), end)
            return performance.budget(session, offer, days, BENCH_NOW.date())

        return read

    def attribution(offer_id: int) -> Callable[[], object]:
        offer = loaded[offer_id]
        assert offer is not None
        who = Principal(credential_id=0, role=Role.MERCHANT, merchant_id=offer.merchant_id)
        return lambda: performance.attribution(session, who, offer, BENCH_NOW)

    holdout = [o for o in offer_ids if (loaded[o].holdout_bps or 0) > 0]  # type: ignore[union-attr]
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
        with Session(engine) as session:
            timings = _member_reads(session, member_ids)
            timings.update(_merchant_reads(session, offer_ids))
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
