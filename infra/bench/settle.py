"""`clo bench settle --events N`: settle one week holding N qualified purchases.

Setup writes the ledger directly in bulk (rewards, accrual entries and their postings, a
share of clawbacks, cached balances, the daily booking rollup) for merchants, offers and
members, all booked inside the week: most accruals written posted, a share written pending at
the auth and resolved as posted at the clearing a day or two later (settlement goes by
booking time); then a fresh process runs the settlement (statements aggregated in the
database, automatic approval, billing and payouts through in-memory ports, the report) and
reports wall time per step and its peak resident memory. Prints figures; asserts nothing about time.
"""

from __future__ import annotations

import multiprocessing
import random
import sys
import tempfile
import time
import uuid
from collections import defaultdict
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import Connection, insert, update

from service.db import make_engine
from service.observability.memory import peak_rss_mib
from service.progress import summary
from service.schema import upgrade
from service.settlements.ports import attribution_port
from service.tables import Member, MemberBrandState, Merchant, Offer
from settlement.ledger.accounts import AccountDirectory, AccountKind
from settlement.ledger.bookings import rebuild_daily_bookings
from settlement.ledger.bulk import bulk_insert
from settlement.runs.periods import iso_week
from settlement.runs.ports import InvoiceLine, Ports, TransferResult
from settlement.tables import (
    LedgerAccount,
    LedgerEntry,
    LedgerEntryResolution,
    LedgerPosting,
    Reward,
)

PERIOD = "2026-W46"
DAY = timedelta(days=1)
CHUNK = 100_000
BRAND_STATE_COLUMNS = (
    "member_id",
    "merchant_id",
    "first_purchase_at",
    "last_purchase_at",
    "purchase_count",
)
PENDING_SHARE = 0.3  # accruals booked pending at the auth, posted at the clearing


class MemoryBilling:
    def ensure_customer(self, merchant_id: int, *, idempotency_key: str) -> str:
        return f"cus_{merchant_id}"

    def create_invoice(
        self, customer_ref: str, *, currency: str, description: str, idempotency_key: str
    ) -> str:
        return f"in_{idempotency_key}"

    def add_item(
        self, customer_ref: str, invoice_ref: str, line: InvoiceLine, *, currency: str
    ) -> str:
        return f"ii_{line.idempotency_key}"

    def finalize_and_send(self, invoice_ref: str, *, idempotency_key: str) -> str:
        return "open"

    def credit_balance(
        self, customer_ref: str, *, amount: int, currency: str, description: str,
        idempotency_key: str,
    ) -> str:  # fmt: skip
        return f"cbtxn-{idempotency_key}"


class MemoryPayouts:
    def payable(self, conn: Connection, member_ids: list[int]) -> set[int]:
        return set(member_ids)

    def charities_payable(self, conn: Connection, charity_ids: list[int]) -> set[int]:
        return set()

    def transfer_to_charity(
        self, charity_id: int, *, amount: int, currency: str, payout_id: int, idempotency_key: str
    ) -> TransferResult:
        raise AssertionError("no charity is payable here")

    def transfer(
        self, member_id: int, *, amount: int, currency: str, payout_id: int, idempotency_key: str
    ) -> TransferResult:
        return TransferResult(True, f"tr_{payout_id}", None)


def _seed(url: str, *, events: int, members: int, merchants: int, offers: int, seed: int):
    engine = make_engine(url)
    upgrade(engine)
    rng = random.Random(seed)
    period = iso_week(PERIOD)
    span_s = int((period.end - period.start).total_seconds()) - 1
    offer_merchant = {o: 1 + (o - 1) % merchants for o in range(1, offers + 1)}
    directory = AccountDirectory()
    refs: set[tuple[AccountKind, int | None, str]] = {(AccountKind.PLATFORM_REVENUE, None, "USD")}
    refs |= {(AccountKind.MERCHANT_RECEIVABLE, m, "USD") for m in range(1, merchants + 1)}
    refs |= {(AccountKind.MEMBER_AVAILABLE, m, "USD") for m in range(1, members + 1)}
    with engine.begin() as conn:
        _seed_offers(conn, members, merchants, offer_merchant, period.start - 30 * DAY)
        ids = directory.ids_for(conn, refs)
    revenue = ids[(AccountKind.PLATFORM_REVENUE, None, "USD")]
    balances: dict[int, int] = defaultdict(int)
    reward_cols = ["id", "member_id", "offer_id", "merchant_id", "currency", "state"]
    reward_cols += ["spend_amount", "reward_amount", "commission_amount", "occurred_at"]
    reward_cols += ["hold_days", "cleared_at", "matured_at", "refunded_spend_amount"]
    reward_cols += ["clawed_reward_amount", "clawed_commission_amount", "booked_at"]
    entry_cols = ["id", "idempotency_key", "content_sha256", "kind", "initial_status"]
    entry_cols += ["currency", "offer_id", "merchant_id", "member_id", "reward_id"]
    entry_cols += ["effective_at", "created_at", "memo"]
    posting_cols = ["entry_id", "account_id", "amount", "currency"]
    resolution_cols = ["entry_id", "status", "resolved_at", "reason"]
    last = period.end - timedelta(seconds=1)
    now = period.end + timedelta(hours=3)
    entry_id = 0
    # (member, merchant) -> [first purchase, last purchase, purchases]: the history the feed
    # keeps for every purchase, which the report reads to tell new from returning members.
    history: dict[tuple[int, int], list] = {}
    for start in range(0, events, CHUNK):
        rewards, entries, postings, resolutions = [], [], [], []
        for rid in range(start + 1, min(events, start + CHUNK) + 1):
            offer = rng.randint(1, offers)
            merchant, member = offer_merchant[offer], rng.randint(1, members)
            spend = rng.randint(500, 15_000)
            reward = spend * 5 // 100
            commission = reward // 5
            at = period.start + timedelta(seconds=rng.randint(0, span_s))
            seen = history.get((member, merchant))
            if seen is None:
                # A third of the pairs bought at the brand before the week: returning members.
                first = at - 60 * DAY if rng.random() < 1 / 3 else at
                history[(member, merchant)] = [first, at, 1]
            else:
                seen[0], seen[1], seen[2] = min(seen[0], at), max(seen[1], at), seen[2] + 1
            reward_row = (
                rid,
                member,
                offer,
                merchant,
                "USD",
                "matured",
                spend,
                reward,
                commission,
                at,
                0,
                at,
                at,
                0,
                0,
                0,
            )
            written = min(at + timedelta(seconds=rng.randint(60, 3_600)), last)
            pending = rng.random() < PENDING_SHARE
            kinds = [("accrual", reward, commission, written, pending)]
            if rng.random() < 0.02:  # a refund clawed back in full
                kinds.append(("clawback", -reward, -commission, min(written + DAY, last), False))
            for kind, r_amt, c_amt, booked_at, is_pending in kinds:
                entry_id += 1
                entries.append(
                    (
                        entry_id,
                        f"reward:{rid}:{kind}",
                        "-",
                        kind,
                        "pending" if is_pending else "posted",
                        "USD",
                        offer,
                        merchant,
                        member,
                        rid,
                        at,
                        booked_at,
                        "",
                    )
                )
                if is_pending:
                    cleared = min(booked_at + DAY * rng.randint(1, 2), last)
                    resolutions.append((entry_id, "posted", cleared, "cleared"))
                if kind == "accrual":  # the reward's booking time, as the booking code keeps it
                    first_booked = cleared if is_pending else booked_at
                for ref, amount in (
                    ((AccountKind.MERCHANT_RECEIVABLE, merchant, "USD"), -(r_amt + c_amt)),
                    ((AccountKind.MEMBER_AVAILABLE, member, "USD"), r_amt),
                ):
                    postings.append((entry_id, ids[ref], amount, "USD"))
                    balances[ids[ref]] += amount
                postings.append((entry_id, revenue, c_amt, "USD"))
                balances[revenue] += c_amt
            rewards.append((*reward_row, first_booked))
        with engine.begin() as conn:
            bulk_insert(conn, Reward.__table__, reward_cols, rewards)
            bulk_insert(conn, LedgerEntry.__table__, entry_cols, entries)
            bulk_insert(conn, LedgerPosting.__table__, posting_cols, postings)
            table = LedgerEntryResolution.__table__
            bulk_insert(conn, table, resolution_cols, resolutions)
    accounts = LedgerAccount.__table__
    with engine.begin() as conn:
        bulk_insert(
            conn,
            MemberBrandState.__table__,
            BRAND_STATE_COLUMNS,
            [(*pair, *seen) for pair, seen in sorted(history.items())],
        )
        # The rows went in around the writer, so the daily booking rollup it would have
        # kept is derived from them, by the code the migration and the ledger check use.
        rebuild_daily_bookings(conn)
        conn.execute(
            update(accounts).where(accounts.c.id == _bind("a_id")).values(posted_amount=_bind("a")),
            [{"a_id": k, "a": v} for k, v in balances.items()],
        )
        if conn.dialect.name == "postgresql":
            for name in ("member", "merchant", "offer", "ledger_entry", "reward"):
                conn.exec_driver_sql(
                    f"SELECT setval(pg_get_serial_sequence('{name}', 'id'), "
                    f"(SELECT MAX(id) FROM {name}))"
                )
        else:
            conn.exec_driver_sql("ANALYZE")
    if engine.dialect.name == "postgresql":
        # The week is settled days after it was written, when autovacuum has long set the
        # rows' visibility: without this the run would pay for it on first read.
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("VACUUM (ANALYZE)")
    engine.dispose()
    return now


def _seed_offers(
    conn, members: int, merchants: int, offer_merchant: dict[int, int], since: datetime
) -> None:
    """The members, merchants and live offers the purchases are for, so that the run's
    attribution report reads real offers; one offer in ten keeps a 10% holdout."""
    conn.execute(
        insert(Member.__table__),
        [{"id": m, "created_at": since} for m in range(1, members + 1)],
    )
    conn.execute(
        insert(Merchant.__table__),
        [
            {"id": m, "brand_name": f"Brand {m}", "timezone": "UTC", "currency": "USD"}
            | {"default_commission_bps": 2_000, "created_at": since}
            for m in range(1, merchants + 1)
        ],
    )
    conn.execute(
        insert(Offer.__table__),
        [
            {"id": o, "merchant_id": m, "title": f"5% back {o}", "status": "live"}
            | {"kind": "cashback", "reward_type": "percent", "currency": "USD", "rate_bps": 500}
            | {"starts_at": since, "commission_bps": 2_000, "holdout_bps": 1_000 * (o % 10 == 0)}
            | {"dayparts_json": "[]", "bonus_windows_json": "[]"}
            | {"created_at": since, "updated_at": since}
            for o, m in offer_merchant.items()
        ],
    )


def _bind(name: str):
    from sqlalchemy import bindparam

    return bindparam(name)


def _settle_child(url: str, now: datetime, out) -> None:
    from settlement.runs.runner import RunSettings, SettlementRunner

    engine = make_engine(url)
    runner = SettlementRunner(
        engine,
        Ports(MemoryBilling(), MemoryPayouts(), attribution_port()),
        RunSettings(auto_approve_below_amount=10**15, payout_minimum_amount=1_000),
    )
    started = time.perf_counter()
    outcome = runner.settle(iso_week(PERIOD), now)
    elapsed = time.perf_counter() - started
    peak_mib = peak_rss_mib()
    with engine.connect() as conn:
        report_source = conn.exec_driver_sql("SELECT source FROM settlement_report").scalar()
    out.put((elapsed, outcome.status, outcome.timings_ms, peak_mib, report_source))


def run_settle_benchmark(
    *, events: int, database: str | None, members: int, seed: int, merchants: int = 200
) -> int:
    offers = max(merchants, 1000)
    admin_url, bench_db, tmp = None, None, None
    if database and database.startswith(("postgres://", "postgresql")):
        import psycopg

        admin_url = database.replace("postgresql+psycopg://", "postgresql://")
        bench_db = f"clo_bench_settle_{uuid.uuid4().hex[:8]}"
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{bench_db}"')
        url = admin_url.rsplit("/", 1)[0] + "/" + bench_db
    elif database:
        url = database
    else:
        tmp = tempfile.TemporaryDirectory()
        url = f"sqlite:///{Path(tmp.name) / 'bench-settle.db'}"
    try:
        started = time.perf_counter()
        now = _seed(
            url, events=events, members=members, merchants=merchants, offers=offers, seed=seed
        )
        print(
            f"setup: {events:,} qualified purchases, {members:,} members, {merchants} "
            f"merchants, {offers} offers in {time.perf_counter() - started:.1f} s "
            f"({url.split(':')[0]})"
        )
        ctx = multiprocessing.get_context("spawn")
        queue = ctx.Queue()
        child = ctx.Process(target=_settle_child, args=(url, now, queue))
        child.start()
        elapsed, status, timings, peak_mib, report_source = queue.get()
        child.join()
        summary(
            [
                (f"settlement {PERIOD}", f"{status} in {elapsed:.2f} s"),
                *((f"  {step}", f"{ms / 1000:.2f} s") for step, ms in timings.items()),
                ("report from", report_source),
                ("peak memory (settling process)", f"{peak_mib:.0f} MiB"),
            ]
        )
        return 0 if status == "closed" else 1
    finally:
        if bench_db and admin_url:
            import psycopg

            with psycopg.connect(admin_url, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{bench_db}" WITH (FORCE)')
        if tmp is not None:
            tmp.cleanup()


if __name__ == "__main__":
    sys.exit(run_settle_benchmark(events=100_000, database=None, members=2_000, seed=3))
