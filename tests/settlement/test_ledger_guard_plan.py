"""The database's balance check at commit finds an entry's postings by index, however the
ledger has grown since the session first ran it.

On PostgreSQL a deferred trigger checks every new entry at commit. PL/pgSQL keeps the plans of
its queries for the life of the session, and after five executions it may keep a generic plan
made when `ledger_posting` was small: a sequential scan. A pooled connection that started on
a young ledger then read every posting for every entry it committed, so a webhook batch's
commit grew with the ledger (52 ms for 30 entries at 30,000 postings). The guard now never
plans a scan. SQLite has no such trigger (the writer refuses an unbalanced entry, and
`clo ledger check` finds one).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, text

from service.db import make_engine
from settlement.ledger.accounts import AccountDirectory
from settlement.ledger.writer import LedgerBatch, post_entry
from tests.settlement.test_ledger import NOW, accrual

LEDGER_ENTRIES = 2_000  # 6,000 postings: a scan reads thousands of rows, an index a few


def _posting_rows_scanned(conn) -> int:
    """Rows this transaction read from `ledger_posting` by sequential scan so far."""
    return conn.execute(
        text(
            "SELECT coalesce(sum(seq_tup_read), 0) FROM pg_stat_xact_user_tables"
            " WHERE relname = 'ledger_posting'"
        )
    ).scalar_one()


@pytest.fixture
def engine(pg_url) -> Iterator[Engine]:
    """PostgreSQL only: SQLite has no such trigger."""
    eng = make_engine(pg_url)
    yield eng
    eng.dispose()


@pytest.mark.postgres
def test_the_balance_check_at_commit_reads_only_the_entrys_postings_after_the_ledger_grew(engine):
    directory = AccountDirectory()
    with engine.connect() as session:  # one session throughout, as a pooled connection lives
        for i in range(8):  # past the five custom plans: the session keeps a generic one
            with session.begin():
                post_entry(session, directory, accrual(f"young-{i}"), NOW)
        with engine.begin() as other:  # meanwhile the ledger grows
            batch = LedgerBatch()
            for i in range(LEDGER_ENTRIES):
                batch.add(accrual(f"grown-{i}", member=1 + i % 50))
            batch.flush(other, directory, NOW)
        with session.begin():
            post_entry(session, directory, accrual("late"), NOW)
            before = _posting_rows_scanned(session)
            session.execute(text("SET CONSTRAINTS ALL IMMEDIATE"))  # the deferred check, now
            scanned = _posting_rows_scanned(session) - before
    assert scanned == 0
    with engine.connect() as conn:
        total = conn.execute(text("SELECT count(*) FROM ledger_posting")).scalar_one()
    assert total == 3 * (8 + LEDGER_ENTRIES + 1)
