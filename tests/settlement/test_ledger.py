"""The ledger's invariants, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, IntegrityError

from settlement.ledger.accounts import AccountDirectory, AccountKind
from settlement.ledger.check import check_ledger
from settlement.ledger.writer import (
    AlreadyResolved,
    Entry,
    EntryStatus,
    IdempotencyConflict,
    LedgerBatch,
    Posting,
    UnbalancedEntry,
    post_entry,
    resolve_entry,
)

NOW = datetime(2026, 11, 2, 12, 0, tzinfo=UTC)


def accrual(
    key: str,
    *,
    member: int = 1,
    merchant: int = 1,
    reward: int = 200,
    commission: int = 50,
    status: EntryStatus = EntryStatus.POSTED,
) -> Entry:
    return Entry(
        idempotency_key=key,
        kind="accrual",
        status=status,
        currency="USD",
        postings=(
            Posting(AccountKind.MERCHANT_RECEIVABLE, merchant, -(reward + commission)),
            Posting(AccountKind.MEMBER_PENDING, member, reward),
            Posting(AccountKind.PLATFORM_REVENUE, None, commission),
        ),
        effective_at=NOW,
    )


def balances(conn) -> dict[str, tuple[int, int]]:
    return {
        code: (posted, pending)
        for code, posted, pending in conn.execute(
            text("SELECT code, posted_amount, pending_amount FROM ledger_account")
        )
    }


def test_design_example_cleared_40_dollars_at_5_percent_with_20_percent_commission(engine):
    # $40.00 at 5% = 200 to the member; the platform keeps 20% of what the merchant pays:
    # 200 / (1 - 0.20) = 250 from the merchant, 50 of it revenue.
    with engine.begin() as conn:
        post_entry(conn, AccountDirectory(), accrual("e1", reward=200, commission=50), NOW)
        assert balances(conn) == {
            "merchant:1:receivable:USD": (-250, 0),
            "member:1:pending:USD": (200, 0),
            "platform:revenue:USD": (50, 0),
        }
        assert check_ledger(conn).balanced


def test_same_key_same_content_writes_once_and_returns_the_first_entry(engine):
    directory = AccountDirectory()
    with engine.begin() as conn:
        first = post_entry(conn, directory, accrual("k"), NOW)
        again = post_entry(conn, directory, accrual("k"), NOW)
        assert first == again
        assert conn.execute(text("SELECT count(*) FROM ledger_entry")).scalar_one() == 1
        assert balances(conn)["member:1:pending:USD"] == (200, 0)


def test_same_key_different_content_is_a_conflict_not_a_second_write(engine):
    directory = AccountDirectory()
    with engine.begin() as conn:
        post_entry(conn, directory, accrual("k", reward=200), NOW)
        with pytest.raises(IdempotencyConflict):
            post_entry(conn, directory, accrual("k", reward=300), NOW)
        assert conn.execute(text("SELECT count(*) FROM ledger_entry")).scalar_one() == 1


def test_unbalanced_and_single_posting_entries_are_refused():
    entry = accrual("u")
    entry.postings = entry.postings[:2]  # -250 + 200 != 0
    with pytest.raises(UnbalancedEntry):
        entry.check()
    entry.postings = (Posting(AccountKind.PLATFORM_REVENUE, None, 0),)
    with pytest.raises(UnbalancedEntry):
        entry.check()


def test_pending_entry_posts_once_and_moves_pending_to_posted(engine):
    directory = AccountDirectory()
    with engine.begin() as conn:
        entry_id = post_entry(conn, directory, accrual("p", status=EntryStatus.PENDING), NOW)
        assert balances(conn)["member:1:pending:USD"] == (0, 200)
        resolve_entry(conn, directory, entry_id, EntryStatus.POSTED, "cleared", NOW)
        assert balances(conn)["member:1:pending:USD"] == (200, 0)
        with pytest.raises(AlreadyResolved):
            resolve_entry(conn, directory, entry_id, EntryStatus.VOIDED, "late", NOW)
        assert check_ledger(conn).balanced


def test_voided_pending_entry_leaves_no_balance(engine):
    directory = AccountDirectory()
    with engine.begin() as conn:
        entry_id = post_entry(conn, directory, accrual("v", status=EntryStatus.PENDING), NOW)
        resolve_entry(conn, directory, entry_id, EntryStatus.VOIDED, "reversed", NOW)
        assert set(balances(conn).values()) == {(0, 0)}
        assert check_ledger(conn).balanced


def test_a_second_resolution_is_refused_by_the_database_too(engine):
    directory = AccountDirectory()
    with engine.begin() as conn:
        entry_id = post_entry(conn, directory, accrual("r", status=EntryStatus.PENDING), NOW)
        resolve_entry(conn, directory, entry_id, EntryStatus.POSTED, "cleared", NOW)
    batch = LedgerBatch()
    batch.resolve(entry_id, EntryStatus.VOIDED, "again")
    with pytest.raises(IntegrityError), engine.begin() as conn:
        batch.flush(conn, directory, NOW)


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE ledger_posting SET amount = amount + 1",
        "DELETE FROM ledger_posting",
        "UPDATE ledger_entry SET kind = 'other'",
        "DELETE FROM ledger_entry",
    ],
)
def test_ledger_rows_are_append_only(engine, statement):
    with engine.begin() as conn:
        post_entry(conn, AccountDirectory(), accrual("a"), NOW)
    with pytest.raises(DBAPIError, match="append-only"), engine.begin() as conn:
        conn.execute(text(statement))


def test_member_balances_cannot_go_negative_in_the_database(engine):
    # Moving 100 out of an empty available account: refused by the CHECK constraint.
    entry = Entry(
        idempotency_key="neg",
        kind="adjustment",
        status=EntryStatus.POSTED,
        currency="USD",
        effective_at=NOW,
        postings=(
            Posting(AccountKind.MEMBER_AVAILABLE, 1, -100),
            Posting(AccountKind.PLATFORM_CASH, None, 100),
        ),
    )
    with pytest.raises(IntegrityError), engine.begin() as conn:
        post_entry(conn, AccountDirectory(), entry, NOW)


def test_check_finds_a_cached_balance_that_disagrees_with_postings(engine):
    with engine.begin() as conn:
        post_entry(conn, AccountDirectory(), accrual("c"), NOW)
        conn.execute(
            text(
                "UPDATE ledger_account SET posted_amount = 999 WHERE code = 'member:1:pending:USD'"
            )
        )
        report = check_ledger(conn)
    assert not report.balanced
    assert any("member:1:pending:USD" in m for m in report.balance_mismatches)


def test_check_finds_a_daily_booking_that_disagrees_with_postings(engine):
    with engine.begin() as conn:
        post_entry(conn, AccountDirectory(), accrual("d"), NOW)
        assert check_ledger(conn).balanced
        conn.execute(text("UPDATE ledger_daily_booking SET amount = amount + 1"))
        report = check_ledger(conn)
    assert not report.balanced
    assert report.booking_mismatches and "postings say" in report.booking_mismatches[0]


_entries = st.lists(
    st.tuples(
        st.integers(1, 5),
        st.integers(1, 3),
        st.integers(0, 10_000),
        st.integers(0, 2_000),
        st.sampled_from(["post", "pend", "void", "clear"]),
    ),
    min_size=1,
    max_size=25,
)


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(steps=_entries)
def test_property_ledger_always_sums_to_zero_and_matches_its_cache(engine, steps):
    directory = AccountDirectory()
    with engine.begin() as conn:
        base = conn.execute(text("SELECT count(*) FROM ledger_entry")).scalar_one()
        for i, (member, merchant, reward, commission, action) in enumerate(steps):
            if reward + commission == 0:
                continue
            status = EntryStatus.POSTED if action == "post" else EntryStatus.PENDING
            entry = accrual(
                f"prop-{base}-{i}",
                member=member,
                merchant=merchant,
                reward=reward,
                commission=commission,
                status=status,
            )
            if reward == 0 or commission == 0:
                entry.postings = tuple(p for p in entry.postings if p.amount)
            entry_id = post_entry(conn, directory, entry, NOW)
            if action in ("void", "clear"):
                resolve_entry(
                    conn,
                    directory,
                    entry_id,
                    EntryStatus.VOIDED if action == "void" else EntryStatus.POSTED,
                    action,
                    NOW,
                )
        report = check_ledger(conn)
        assert report.balanced, report.lines()
        assert all(total == 0 for total in report.currency_totals.values())
