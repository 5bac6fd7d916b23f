"""`clo demo`: an offline, seeded, reproducible run of the whole money path, then the API."""

from __future__ import annotations

import random
import tempfile
import time
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography.fernet import Fernet
from sqlalchemy import insert, select

from service.auth import Role, issue_credential
from service.cli import ingest_file, print_summary
from service.config import Settings, get_settings
from service.db import make_engine, unit_of_work
from service.plaid.demo import link_demo_item
from service.progress import summary as summary_table
from service.schema import upgrade
from service.settlements.demo import settle_demo
from service.synthetic import generate_events, seed_world, write_csv
from service.tables import Activation, Offer
from service.web.demo import add_demo_member_login, demo_web_settings
from service.web.staff.demo import (
    add_demo_staff,
    move_to_served_stripe,
    second_week_awaiting_approval,
)
from settlement.ledger.check import check_ledger
from settlement.ledger.slots import account_totals
from settlement.maturation import run_maturation

_offers = Offer.__table__

DEMO_DATABASE = "sqlite:///clo-demo.db"
# A fixed clock makes the demo reproducible: the feed covers the 30 days before it.
DEMO_NOW = datetime(2026, 11, 1, tzinfo=UTC)


def _reset_sqlite(url: str) -> None:
    if url.startswith("sqlite:///") and ":memory:" not in url:
        path = Path(url.removeprefix("sqlite:///"))
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)


def _money(amount: int) -> str:
    return f"${amount / 100:,.2f}" if amount >= 0 else f"-${-amount / 100:,.2f}"


def demo_settings() -> Settings:
    """The environment's settings; with no encryption key configured (`clo demo` run by
    hand), one made for this run: the demo never falls back to a well-known secret."""
    settings = get_settings()
    if settings.encryption_keys:
        return settings
    print("no CLO_ENCRYPTION_KEYS set: using a key made for this run (`make demo` keeps one)")
    return settings.model_copy(update={"encryption_keys": [Fernet.generate_key().decode()]})


def run_demo(
    *, events: int, seed: int, database: str | None, serve: bool, host: str, port: int
) -> int:
    settings = demo_settings()
    url = database or DEMO_DATABASE
    _reset_sqlite(url)
    engine = make_engine(url)
    upgrade(engine)
    started = time.perf_counter()
    feed_start = DEMO_NOW - timedelta(days=30)
    world = seed_world(engine, seed=seed, now=feed_start, merchants=60, offers=140, members=5_000)
    _activate_some(engine, seed, world.member_ids, feed_start)
    with unit_of_work(engine) as session:
        admin_key = issue_credential(session, role=Role.ADMIN, now=DEMO_NOW, name="demo admin")

    with tempfile.TemporaryDirectory() as tmp:
        feed = Path(tmp) / "demo-feed.csv"
        written = write_csv(feed, generate_events(world, seed=seed, count=events, start=feed_start))
        print(
            f"CLO demo: {world.merchants} merchants, {world.offers} offers, "
            f"{len(world.member_ids):,} members; replaying {written:,} card events "
            f"(auths, clearings, refunds, reversals, duplicates, malformed lines)"
        )
        summary = ingest_file(engine, feed, DEMO_NOW)
        # Replaying the same file again must change nothing.
        replay = ingest_file(engine, feed, DEMO_NOW, quiet=True)
    plaid_lines = link_demo_item(engine, DEMO_NOW, world.member_ids[0], settings)
    matured = run_maturation(engine, DEMO_NOW)
    # The whole feed is booked at DEMO_NOW (a Sunday); the run settles that week once it has
    # closed, on the Monday after, as the scheduler would.
    settled = settle_demo(engine, DEMO_NOW + timedelta(days=1), world.member_ids)
    # A second week, booked a week later, waits for finance's approval.
    settled.append(
        second_week_awaiting_approval(
            engine, world, seed=seed, booked_at=DEMO_NOW + timedelta(days=7)
        )
    )
    elapsed = time.perf_counter() - started

    print()
    print_summary(summary)
    print(
        f"replayed the same feed again: {replay.duplicates:,} duplicates, "
        f"{replay.accepted:,} newly accepted"
    )
    print("\n".join(plaid_lines))
    print(
        f"maturation: {matured.matured_count:,} rewards matured, "
        f"{matured.expired_count:,} stale auths expired"
    )
    with engine.connect() as conn:
        totals: dict[str, int] = defaultdict(int)
        for row in conn.execute(account_totals()):
            totals[row.kind] += row.posted_amount + row.pending_amount
        report = check_ledger(conn)
    print("\n".join(settled))
    summary_table(
        [
            ("cashback pending", _money(int(totals.get("member_pending") or 0))),
            ("cashback available", _money(int(totals.get("member_available") or 0))),
            ("merchants owe", _money(-int(totals.get("merchant_receivable") or 0))),
            ("platform revenue", _money(int(totals.get("platform_revenue") or 0))),
        ]
    )
    print(
        f"ledger balanced: {'yes' if report.balanced else 'NO'} "
        f"({report.entries:,} entries, {report.postings:,} postings)"
    )
    login = add_demo_member_login(engine, world.member_ids[0], DEMO_NOW)
    staff_lines = add_demo_staff(engine, DEMO_NOW)
    print(f"done in {elapsed:.1f} s; database {url}")
    print(f"admin API key (shown once): {admin_key}")
    print(f"check the ledger again any time: .venv/bin/clo ledger check --database {url}")
    if not report.balanced:
        print("\n".join(report.lines()))
        return 1
    if serve:
        _serve(engine, settings, host, port, login, staff_lines)
    return 0


def _serve(
    engine, base: Settings, host: str, port: int, login: tuple[str, str], staff: list[str]
) -> None:
    import uvicorn

    from service.app import create_app
    from service.notifications.demo import demo_notifier

    with (
        demo_web_settings(base, host, port) as web_settings,
        demo_notifier(engine, web_settings, datetime.now(UTC)) as settings,
    ):
        origin = settings.web_origin
        print(f"serving on {origin} (API docs at {origin}/docs); Ctrl-C stops")
        print(
            f"health: {origin}/healthz (process up), {origin}/readyz (database, migrations, "
            f"offer catalog); metrics: {origin}/metrics with the admin API key as Bearer"
        )
        print(f"member app: {origin}/app  sign in as {login[0]} / {login[1]}")
        print("  test cards: 4242 4242 4242 4242 (Visa), 5555 5555 5555 4444 (Mastercard)")
        move_to_served_stripe(engine, settings, DEMO_NOW)
        for line in staff:
            print(
                line.replace(" /merchant", f" {origin}/merchant").replace(
                    " /finance", f" {origin}/finance"
                )
            )
        app = create_app(engine=engine, settings=settings)
        # The app's own access log (route templates, card numbers masked) replaces uvicorn's.
        uvicorn.run(app, host=host, port=port, access_log=False, log_config=None)


def _activate_some(engine, seed: int, member_ids: list[int], at: datetime) -> None:
    """Members activate some activation-required offers, all before the feed starts."""
    rng = random.Random(seed + 2)
    with engine.begin() as conn:
        offer_ids = list(
            conn.execute(select(_offers.c.id).where(_offers.c.activation_required)).scalars()
        )
        rows = [
            {"member_id": m, "offer_id": o, "activated_at": at - timedelta(hours=1)}
            for o in offer_ids
            for m in member_ids
            if rng.random() < 0.5
        ]
        for start in range(0, len(rows), 5000):
            conn.execute(insert(Activation.__table__), rows[start : start + 5000])
