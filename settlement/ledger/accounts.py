"""The chart of accounts, per currency, and fast id lookup with get-or-create in bulk."""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum
from functools import cache
from typing import Any

from sqlalchemy import Connection, Select, event, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from settlement.ledger.bulk import KEYS, by_keys, keys_param
from settlement.tables import LedgerAccount

_accounts = LedgerAccount.__table__


class AccountKind(StrEnum):
    MEMBER_PENDING = "member_pending"  # cashback earned, not yet matured
    MEMBER_AVAILABLE = "member_available"  # matured cashback the member may withdraw
    MEMBER_RECOVERY = "member_recovery"  # clawback shortfall the member owes (debit)
    MERCHANT_RECEIVABLE = "merchant_receivable"  # what the merchant owes (debit)
    PLATFORM_REVENUE = "platform_revenue"
    PLATFORM_PAYOUTS_IN_TRANSIT = "platform_payouts_in_transit"
    PLATFORM_CASH = "platform_cash"  # debit
    CHARITY_PAYABLE = "charity_payable"


_OWNER = {
    AccountKind.MEMBER_PENDING: ("member", "pending"),
    AccountKind.MEMBER_AVAILABLE: ("member", "available"),
    AccountKind.MEMBER_RECOVERY: ("member", "recovery"),
    AccountKind.MERCHANT_RECEIVABLE: ("merchant", "receivable"),
    AccountKind.PLATFORM_REVENUE: ("platform", "revenue"),
    AccountKind.PLATFORM_PAYOUTS_IN_TRANSIT: ("platform", "payouts_in_transit"),
    AccountKind.PLATFORM_CASH: ("platform", "cash"),
    AccountKind.CHARITY_PAYABLE: ("charity", "payable"),
}
MEMBER_KINDS = frozenset(kind for kind, (owner, _) in _OWNER.items() if owner == "member")
# Debit-balance accounts (assets, or claims on others) are negative under the credit-normal
# convention; every other account is a liability or revenue and may never go below zero.
ALLOW_NEGATIVE = frozenset(
    {AccountKind.MEMBER_RECOVERY, AccountKind.MERCHANT_RECEIVABLE, AccountKind.PLATFORM_CASH}
)

AccountRef = tuple[AccountKind, int | None, str]  # kind, owner id, currency


def account_code(kind: AccountKind, owner_id: int | None, currency: str) -> str:
    owner_type, suffix = _OWNER[kind]
    if owner_type == "platform":
        return f"platform:{suffix}:{currency}"
    if owner_id is None:
        raise ValueError(f"{kind.value} accounts belong to an owner")
    return f"{owner_type}:{owner_id}:{suffix}:{currency}"


@cache
def _ids_by_code_query(dialect: str) -> Select[Any]:
    """Built once per dialect (`by_keys` says why)."""
    return by_keys(dialect, select(_accounts.c.id, _accounts.c.code), _accounts.c.code)


class AccountDirectory:
    """Maps account references to ids, creating accounts on first use.

    Accounts are never deleted, so a cached id stays valid for the life of the process and
    across processes sharing the database. Only ids of committed accounts are cached: the
    batches of one process (API threads) share the directory, and an account created in a
    transaction exists for no other until it commits, and never if it rolls back; a batch
    that used its id meanwhile would post to a row it cannot see.
    """

    def __init__(self) -> None:
        self._ids: dict[AccountRef, int] = {}

    def ids_for(self, conn: Connection, refs: Iterable[AccountRef]) -> dict[AccountRef, int]:
        refs = set(refs)
        known = self._ids
        missing = {ref for ref in refs if ref not in known}
        found = {ref: known[ref] for ref in refs - missing}
        if missing:
            loaded = self._load_or_create(conn, missing)
            found.update(loaded)
            self._share_on_commit(conn, loaded)
        return found

    def _share_on_commit(self, conn: Connection, loaded: dict[AccountRef, int]) -> None:
        def committed(_conn: Connection) -> None:
            self._ids = {**self._ids, **loaded}
            event.remove(conn, "rollback", rolled_back)

        def rolled_back(_conn: Connection) -> None:
            event.remove(conn, "commit", committed)

        event.listen(conn, "commit", committed, once=True)
        event.listen(conn, "rollback", rolled_back, once=True)

    def _load_or_create(self, conn: Connection, refs: set[AccountRef]) -> dict[AccountRef, int]:
        by_code = {account_code(*ref): ref for ref in refs}
        rows = [
            {
                "code": code,
                "currency": ref[2],
                "kind": ref[0].value,
                "owner_type": _OWNER[ref[0]][0],
                "owner_id": ref[1],
                "allow_negative": ref[0] in ALLOW_NEGATIVE,
                "posted_amount": 0,
                "pending_amount": 0,
            }
            for code, ref in sorted(by_code.items())
        ]
        # In code order: two batches creating the same accounts (a merchant's, a day's) wait on
        # each other's unique-index entries in one order, so they cannot deadlock.
        insert = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
        codes = sorted(by_code)
        for start in range(0, len(rows), 2000):
            conn.execute(
                insert(_accounts).on_conflict_do_nothing(index_elements=["code"]),
                rows[start : start + 2000],
            )
        found = {}
        for start in range(0, len(codes), 2000):
            chunk = codes[start : start + 2000]
            for account_id, code in conn.execute(
                _ids_by_code_query(conn.dialect.name), {KEYS: keys_param(conn, chunk)}
            ):
                found[by_code[code]] = account_id
        return found

    def known(self) -> dict[AccountRef, int]:
        """The ids any transaction may use without a query (a copy)."""
        return dict(self._ids)

    def forget(self) -> None:
        self._ids = {}
