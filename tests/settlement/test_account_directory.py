"""The account directory shares only ids of accounts that are committed.

A process's batches (API threads) share one directory. An account created inside a batch's
transaction does not exist for anyone else until that transaction commits, and never if it
rolls back: a second batch that took its id from the cache meanwhile wrote postings naming a
row it could not see (PostgreSQL: `ledger_posting_account_id_fkey` violated, the webhook
answered 500), or one that never came to be.
"""

from __future__ import annotations

from sqlalchemy import func, select

from settlement.ledger.accounts import AccountDirectory, AccountKind
from settlement.tables import LedgerAccount

REF = (AccountKind.MEMBER_PENDING, 7, "USD")


def cached(directory: AccountDirectory) -> set:
    return set(directory.known())


def test_an_account_created_in_a_transaction_is_shared_once_it_commits(engine):
    directory = AccountDirectory()
    with engine.begin() as conn:
        account_id = directory.ids_for(conn, [REF])[REF]
        assert REF not in cached(directory)  # not committed yet: nobody else may use it
    assert directory.known()[REF] == account_id


def test_an_account_created_in_a_rolled_back_transaction_is_never_shared(engine):
    directory = AccountDirectory()
    with engine.connect() as conn:
        with conn.begin() as tx:
            directory.ids_for(conn, [REF])
            tx.rollback()
        assert cached(directory) == set()
        # The same connection's next transaction commits: only what it made is shared.
        with conn.begin():
            other = (AccountKind.MEMBER_AVAILABLE, 7, "USD")
            directory.ids_for(conn, [other])
        assert cached(directory) == {other}
    with engine.connect() as conn:
        codes = conn.execute(select(func.count()).select_from(LedgerAccount.__table__))
        assert codes.scalar_one() == 1


def test_committed_accounts_are_found_without_a_query(engine):
    directory = AccountDirectory()
    with engine.begin() as conn:
        first = directory.ids_for(conn, [REF])[REF]
    with engine.begin() as conn:
        assert directory.ids_for(conn, [REF]) == {REF: first}
