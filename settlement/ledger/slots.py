"""Balance slots: the cached balances of shared accounts, in rows of their own per feed writer.

Every feed batch moves the platform's revenue and the receivables of its offers' merchants.
Kept on the account row alone, those balances would make concurrent batches (two ingest
processes, two webhook requests) queue on one row lock from the first balance write to the
commit. A feed writer instead adds its changes to shared accounts to its slot's row
(`ledger_balance_slot`) and its bookings to its slot's daily booking rows: two writers in
different slots never wait for each other there. Every other writer (settlement, claims, the
API) keeps writing the account row and slot 0 of the bookings.

A balance is the account row plus its slots, read through `balance_columns` or `account_totals`.
The account row's constraint that a revenue or payable account never goes below zero sees
only that row; `clo ledger check` reports any account whose postings sum below zero.
"""

from __future__ import annotations

import random
from typing import Any

from sqlalchemy import ColumnElement, Connection, Label, Select, func, literal, select, union_all

from settlement.ledger.bulk import insert_or_add
from settlement.tables import LedgerAccount, LedgerBalanceSlot

_a = LedgerAccount.__table__
_s = LedgerBalanceSlot.__table__

# Feed writers take slots 1..FEED_SLOTS. Ingest processes take one each (`clo ingest
# --workers`); a batch of any other feed (a webhook request, a Plaid page) takes one at random:
# two concurrent batches then share a slot, and wait for each other, one time in eight.
FEED_SLOTS = 8


def process_slot(n: int) -> int:
    """The slot of ingest process `n` (from 0): its own while there are at most FEED_SLOTS."""
    return 1 + n % FEED_SLOTS


def batch_slot(own: int | None) -> int:
    """The slot a feed batch writes in: its process's own, or one drawn at random."""
    return own or random.randint(1, FEED_SLOTS)


def add_to_slot(
    conn: Connection, slot: int, ids: list[int], posted: dict[int, int], pending: dict[int, int]
) -> None:
    """Add the balance changes of shared accounts `ids` (in id order) to `slot`'s rows."""
    insert_or_add(
        conn,
        _s,
        ("account_id", "slot"),
        ("posted_amount", "pending_amount"),
        [(k, slot, posted.get(k, 0), pending.get(k, 0)) for k in ids],
    )


def _slot_sum(column: str) -> ColumnElement[int]:
    # A look-up of the account's few slot rows by the primary key, whatever the statistics.
    return func.coalesce(
        select(func.sum(_s.c[column])).where(_s.c.account_id == _a.c.id).scalar_subquery(), 0
    )


def balance_columns() -> tuple[Label[int], Label[int]]:
    """The posted and pending balance of the `ledger_account` row selected with them, slots
    included, named as the account's own columns."""
    return (
        (_a.c.posted_amount + _slot_sum("posted_amount")).label("posted_amount"),
        (_a.c.pending_amount + _slot_sum("pending_amount")).label("pending_amount"),
    )


def account_columns() -> list[Any]:
    """Every column of `ledger_account`, with the balances summed over the slots."""
    balances = {c.name: c for c in balance_columns()}
    return [balances.get(c.name, c) for c in _a.c]


def account_totals() -> Select[Any]:
    """Balances summed per owner type, kind and currency, slots included: owner_type, kind,
    currency, accounts (how many), posted_amount, pending_amount, in that order."""
    groups = (_a.c.owner_type, _a.c.kind, _a.c.currency)
    rows = union_all(
        select(*groups, literal(1).label("n"), _a.c.posted_amount, _a.c.pending_amount),
        select(*groups, literal(0), _s.c.posted_amount, _s.c.pending_amount).select_from(
            _s.join(_a, _a.c.id == _s.c.account_id)
        ),
    ).subquery("balances")
    keys = (rows.c.owner_type, rows.c.kind, rows.c.currency)
    return (
        select(
            *keys,
            func.sum(rows.c.n).label("accounts"),
            func.sum(rows.c.posted_amount).label("posted_amount"),
            func.sum(rows.c.pending_amount).label("pending_amount"),
        )
        .group_by(*keys)
        .order_by(*keys)
    )
