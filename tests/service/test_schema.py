"""The migrations build exactly the schema the table models declare.

A model index the migrations forget is a silent full scan in production (the feed's
"is this auth cleared yet?" lookup once ran without its index), so any difference between
the migrated database and the models fails here, on SQLite and on PostgreSQL.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlmodel import SQLModel, select

import service.claims.tables
import service.linking_tables
import service.notifications.tables
import service.settlements.tables
import service.tables
import service.web.staff.tables
import service.web.tables
import service.webhooks.tables  # noqa: F401
import settlement.outbox
import settlement.runs.tables
import settlement.tables  # noqa: F401  (every module that declares tables)
from service.schema import alembic_config, upgrade
from settlement.ledger.accounts import AccountDirectory, AccountKind
from settlement.ledger.check import check_ledger
from settlement.ledger.writer import Entry, EntryStatus, Posting, post_entry, resolve_entry
from settlement.tables import LedgerDailyBooking
from tests.migrations import downgrade_to


def test_migrated_database_matches_the_table_models(engine):
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": False})
        differences = compare_metadata(context, SQLModel.metadata)
    assert differences == []


def test_daily_booking_migration_derives_the_rollup_of_an_existing_ledger(engine):
    """A ledger written before migration 0006 gets the rollup the writer would have kept:
    posted on Nov 10 (625 owed, 125 revenue), written pending on Nov 12 and posted on Nov 14
    (250, 50), written pending and voided (nothing)."""
    directory = AccountDirectory()

    def nov(day: int) -> datetime:
        return datetime(2026, 11, day, 12, 0, tzinfo=UTC)

    def accrual(key: str, reward: int, status: EntryStatus) -> Entry:
        return Entry(
            idempotency_key=key,
            kind="accrual",
            status=status,
            currency="USD",
            postings=(
                Posting(AccountKind.MERCHANT_RECEIVABLE, 3, -(reward + reward // 4)),
                Posting(AccountKind.MEMBER_PENDING, 7, reward),
                Posting(AccountKind.PLATFORM_REVENUE, None, reward // 4),
            ),
            effective_at=nov(10),
            offer_id=11,
            merchant_id=3,
        )

    with engine.begin() as conn:
        post_entry(conn, directory, accrual("a", 500, EntryStatus.POSTED), nov(10))
        pending = post_entry(conn, directory, accrual("b", 200, EntryStatus.PENDING), nov(12))
        voided = post_entry(conn, directory, accrual("c", 100, EntryStatus.PENDING), nov(12))
        resolve_entry(conn, directory, pending, EntryStatus.POSTED, "cleared", nov(14))
        resolve_entry(conn, directory, voided, EntryStatus.VOIDED, "reversal", nov(14))
    booked = select(LedgerDailyBooking).order_by("booked_on", "amount")
    with engine.connect() as conn:
        kept_by_writer = list(conn.execute(booked))
    assert [(r.booked_on, r.offer_id, r.postings, r.amount) for r in kept_by_writer] == [
        (date(2026, 11, 10), 11, 1, -625),
        (date(2026, 11, 10), 11, 1, 125),
        (date(2026, 11, 14), 11, 1, -250),
        (date(2026, 11, 14), 11, 1, 50),
    ]

    downgrade_to(engine, "0005")
    upgrade(engine)
    with engine.connect() as conn:
        assert list(conn.execute(booked)) == kept_by_writer
        assert check_ledger(conn).balanced


def test_migrations_with_neither_a_connection_nor_a_url_say_so():
    with pytest.raises(RuntimeError, match=r"no sqlalchemy\.url configured"):
        command.upgrade(alembic_config(), "head")


def test_migrations_import_no_application_code() -> None:
    """A migration is frozen at its revision: importing the application (whose tables and
    rules move on) would change what an old migration does."""
    import ast
    from pathlib import Path

    allowed = {
        "alembic",
        "sqlalchemy",
        "sqlmodel",
        "collections",
        "typing",
        "datetime",
        "__future__",
    }
    versions = Path(__file__).parents[2] / "service" / "migrations" / "versions"
    for path in sorted(versions.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            else:
                continue
            for name in names:
                assert name.split(".")[0] in allowed, f"{path.name} imports {name}"
