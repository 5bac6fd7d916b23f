"""Writing the ledger: entries, postings, resolutions and cached balances, in bulk.

`LedgerBatch` collects what one unit of work writes and flushes it with one executemany per
table, so the feed path pays per batch, not per posting. Every entry is checked before it is
written: at least two postings, one currency, summing to zero.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from functools import cache
from typing import Any

from sqlalchemy import Connection, Select, bindparam, select, update

from settlement.ledger.accounts import MEMBER_KINDS, AccountDirectory, AccountKind, AccountRef
from settlement.ledger.bookings import DailyBookings
from settlement.ledger.bulk import KEYS, by_keys, execute_many, insert_rows, keys_param
from settlement.ledger.ids import allocate_ids
from settlement.ledger.slots import add_to_slot
from settlement.tables import LedgerAccount, LedgerEntry, LedgerEntryResolution, LedgerPosting

_entries = LedgerEntry.__table__
_postings = LedgerPosting.__table__
_resolutions = LedgerEntryResolution.__table__
_accounts = LedgerAccount.__table__


class EntryStatus(StrEnum):
    PENDING = "pending"
    POSTED = "posted"
    VOIDED = "voided"


class LedgerError(Exception):
    pass


class UnbalancedEntry(LedgerError):
    pass


class IdempotencyConflict(LedgerError):
    """The same idempotency key was used for different content."""


class AlreadyResolved(LedgerError):
    pass


@dataclass(frozen=True, slots=True)
class Posting:
    kind: AccountKind
    owner_id: int | None
    amount: int


@dataclass(slots=True)
class Entry:
    idempotency_key: str
    kind: str
    status: EntryStatus
    currency: str
    postings: tuple[Posting, ...]
    effective_at: datetime
    event_id: int | None = None
    offer_id: int | None = None
    merchant_id: int | None = None
    member_id: int | None = None
    reward_id: int | None = None
    run_id: int | None = None
    reverses_entry_id: int | None = None
    memo: str = ""
    id: int | None = field(default=None)

    def check(self) -> None:
        if self.status is EntryStatus.VOIDED:
            raise LedgerError("an entry is written pending or posted; voiding is a resolution")
        if len(self.postings) < 2:
            raise UnbalancedEntry(f"{self.idempotency_key}: an entry needs two postings or more")
        if sum(p.amount for p in self.postings) != 0:
            raise UnbalancedEntry(f"{self.idempotency_key}: postings do not sum to zero")

    def content_sha256(self) -> str:
        parts = [self.kind, self.status.value, self.currency] + [
            f"{p.kind.value}:{p.owner_id}:{p.amount}" for p in self.postings
        ]
        return hashlib.sha256("|".join(parts).encode()).hexdigest()


def significant(postings: list[Posting]) -> tuple[Posting, ...]:
    """Drop zero postings (a zero commission, say): they move nothing."""
    return tuple(p for p in postings if p.amount != 0)


@dataclass(slots=True)
class LedgerBatch:
    entries: list[Entry] = field(default_factory=list)
    # entry id -> (status, reason); entries of this batch are resolved by object
    resolutions: dict[int, tuple[EntryStatus, str]] = field(default_factory=dict)
    new_resolutions: list[tuple[Entry, EntryStatus, str]] = field(default_factory=list)
    # id() of the entries in new_resolutions: a set, so resolving stays O(1) per entry
    _resolved_in_batch: set[int] = field(default_factory=set)

    def add(self, entry: Entry) -> Entry:
        entry.check()
        self.entries.append(entry)
        return entry

    def resolve(self, entry: int | Entry, status: EntryStatus, reason: str) -> None:
        """Resolve a pending entry: one already written (by id) or one of this batch."""
        if status is EntryStatus.PENDING:
            raise LedgerError("a resolution is posted or voided")
        if isinstance(entry, Entry):
            if entry.status is not EntryStatus.PENDING or id(entry) in self._resolved_in_batch:
                raise AlreadyResolved(f"{entry.idempotency_key} is not an open pending entry")
            self._resolved_in_batch.add(id(entry))
            self.new_resolutions.append((entry, status, reason))
            return
        if entry in self.resolutions:
            raise AlreadyResolved(f"entry {entry} resolved twice in one batch")
        self.resolutions[entry] = (status, reason)

    def __bool__(self) -> bool:
        return bool(self.entries or self.resolutions)

    def flush(
        self,
        conn: Connection,
        directory: AccountDirectory,
        now: datetime,
        *,
        hold: list[TotalsChange] | None = None,
    ) -> None:
        """Write everything; the caller's transaction makes it all or nothing. With `hold`, the
        changes to cached balances and daily bookings are added to it instead, for the caller
        to write last (`TotalsChange.write`): those rows are shared by every batch (platform
        revenue, a merchant's receivable), and a row written last is held only for the commit.
        """
        if not self:
            return
        refs: set[AccountRef] = {
            (p.kind, p.owner_id, e.currency) for e in self.entries for p in e.postings
        }
        account_ids = directory.ids_for(conn, refs)
        posted_delta: dict[int, int] = defaultdict(int)
        pending_delta: dict[int, int] = defaultdict(int)
        booked = DailyBookings()
        shared = {i for (kind, _, _), i in account_ids.items() if kind not in MEMBER_KINDS}

        ids = allocate_ids(conn, _entries, len(self.entries))
        entry_rows, posting_rows = [], []
        for entry_id, e in zip(ids, self.entries, strict=True):
            e.id = entry_id
            entry_rows.append(
                {
                    "id": entry_id,
                    "idempotency_key": e.idempotency_key,
                    "content_sha256": e.content_sha256(),
                    "kind": e.kind,
                    "initial_status": e.status.value,
                    "currency": e.currency,
                    "event_id": e.event_id,
                    "offer_id": e.offer_id,
                    "merchant_id": e.merchant_id,
                    "member_id": e.member_id,
                    "reward_id": e.reward_id,
                    "run_id": e.run_id,
                    "reverses_entry_id": e.reverses_entry_id,
                    "effective_at": e.effective_at,
                    "created_at": now,
                    "memo": e.memo,
                }
            )
            posted = e.status is EntryStatus.POSTED
            delta = posted_delta if posted else pending_delta
            for p in e.postings:
                account_id = account_ids[(p.kind, p.owner_id, e.currency)]
                posting_rows.append(
                    {
                        "entry_id": entry_id,
                        "account_id": account_id,
                        "amount": p.amount,
                        "currency": e.currency,
                    }
                )
                delta[account_id] += p.amount
                if posted and p.kind not in MEMBER_KINDS:
                    booked.add(account_id, e.kind, e.offer_id, e.merchant_id, p.amount)
        if entry_rows:
            insert_rows(conn, _entries, entry_rows)
            insert_rows(conn, _postings, posting_rows)

        for entry, status, reason in self.new_resolutions:
            assert entry.id is not None
            self.resolutions[entry.id] = (status, reason)
            for p in entry.postings:
                account_id = account_ids[(p.kind, p.owner_id, entry.currency)]
                pending_delta[account_id] -= p.amount
                if status is EntryStatus.POSTED:
                    posted_delta[account_id] += p.amount
                    if p.kind not in MEMBER_KINDS:
                        booked.add(
                            account_id, entry.kind, entry.offer_id, entry.merchant_id, p.amount
                        )
        if self.resolutions:
            self._write_resolutions(conn, now, posted_delta, pending_delta, booked, shared)
        # Every entry balances and a resolution moves a whole entry: so do the balance changes.
        assert sum(posted_delta.values()) == 0, posted_delta
        assert sum(pending_delta.values()) == 0, pending_delta
        changes = TotalsChange(posted_delta, pending_delta, booked, shared)
        if hold is None:
            changes.write(conn, now)
        else:
            hold.append(changes)

    def _write_resolutions(
        self,
        conn: Connection,
        now: datetime,
        posted_delta: dict[int, int],
        pending_delta: dict[int, int],
        booked: DailyBookings,
        shared: set[int],
    ) -> None:
        in_batch = {e.id for e, _, _ in self.new_resolutions}
        entry_ids = sorted(set(self.resolutions) - in_batch)
        pending_ids: set[int] = set()
        dialect = conn.dialect.name
        for start in range(0, len(entry_ids), 5000):
            keys = {KEYS: keys_param(conn, entry_ids[start : start + 5000])}
            entries = {
                entry_id: (kind, offer_id, merchant_id)
                for entry_id, kind, offer_id, merchant_id in conn.execute(
                    _pending_entries_query(dialect), keys
                )
            }
            pending_ids.update(entries)
            for entry_id, account_id, amount, owner_type in conn.execute(
                _postings_query(dialect), keys
            ):
                if entry_id not in entries:
                    continue  # not pending: refused below
                kind, offer_id, merchant_id = entries[entry_id]
                status = self.resolutions[entry_id][0]
                pending_delta[account_id] -= amount
                if status is EntryStatus.POSTED:
                    posted_delta[account_id] += amount
                    if owner_type != "member":
                        booked.add(account_id, kind, offer_id, merchant_id, amount)
                if owner_type != "member":
                    shared.add(account_id)
        not_pending = set(entry_ids) - pending_ids
        if not_pending:
            raise LedgerError(f"only pending entries resolve: {sorted(not_pending)[:5]}")
        # The primary key on entry_id refuses a second resolution of the same entry.
        execute_many(
            conn,
            _resolutions.insert(),
            [
                {"entry_id": entry_id, "status": status.value, "resolved_at": now, "reason": reason}
                for entry_id, (status, reason) in self.resolutions.items()
            ],
        )


@dataclass(slots=True)
class TotalsChange:
    """What one flush adds to the cached totals: account balances and daily bookings."""

    posted: dict[int, int]
    pending: dict[int, int]
    booked: DailyBookings
    shared: set[int]  # the accounts of no member among them (`settlement.ledger.slots`)

    def write(self, conn: Connection, now: datetime, slot: int | None = None) -> None:
        """Write the changes: on the account rows and slot 0's bookings, or with a feed
        writer's `slot`, shared accounts' on that slot's rows."""
        posted, pending = self.posted, self.pending
        changed = sorted(k for k in set(posted) | set(pending) if posted.get(k) or pending.get(k))
        # Account rows, then slot rows, then bookings, each in key order: every writer locks
        # rows in one order.
        if slot is None:
            _apply_balance_deltas(conn, changed, posted, pending)
        else:
            own = [k for k in changed if k not in self.shared]
            _apply_balance_deltas(conn, own, posted, pending)
            add_to_slot(conn, slot, [k for k in changed if k in self.shared], posted, pending)
        self.booked.write(conn, now, slot or 0)


# The statements of `_write_resolutions`, built once per dialect (`by_keys` says why).
@cache
def _pending_entries_query(dialect: str) -> Select[Any]:
    return by_keys(
        dialect,
        select(_entries.c.id, _entries.c.kind, _entries.c.offer_id, _entries.c.merchant_id).where(
            _entries.c.initial_status == EntryStatus.PENDING.value
        ),
        _entries.c.id,
    )


@cache
def _postings_query(dialect: str) -> Select[Any]:
    """Each entry's postings with the owner of their account: a subquery per posting (an
    index lookup) rather than a join, which a planner may answer by reading every account
    into a hash; the entries' own columns come from the pending check."""
    owner = (
        select(_accounts.c.owner_type)
        .where(_accounts.c.id == _postings.c.account_id)
        .scalar_subquery()
        .label("owner_type")
    )
    return by_keys(
        dialect,
        select(_postings.c.entry_id, _postings.c.account_id, _postings.c.amount, owner),
        _postings.c.entry_id,
    )


def _apply_balance_deltas(
    conn: Connection, ids: list[int], posted: dict[int, int], pending: dict[int, int]
) -> None:
    """Add the changes of accounts `ids` (in id order) to their rows."""
    if not ids:
        return
    # Sorted ids: concurrent writers lock accounts in the same order and cannot deadlock.
    execute_many(
        conn,
        update(_accounts)
        .where(_accounts.c.id == bindparam("b_id"))
        .values(
            posted_amount=_accounts.c.posted_amount + bindparam("b_posted"),
            pending_amount=_accounts.c.pending_amount + bindparam("b_pending"),
        ),
        [{"b_id": k, "b_posted": posted.get(k, 0), "b_pending": pending.get(k, 0)} for k in ids],
    )


def post_entry(conn: Connection, directory: AccountDirectory, entry: Entry, now: datetime) -> int:
    """Write one entry idempotently: the same key and content returns the first entry's id;
    the same key with different content is a conflict, never a second write."""
    entry.check()
    existing = conn.execute(
        select(_entries.c.id, _entries.c.content_sha256).where(
            _entries.c.idempotency_key == entry.idempotency_key
        )
    ).first()
    if existing is not None:
        if existing.content_sha256 != entry.content_sha256():
            raise IdempotencyConflict(
                f"idempotency key {entry.idempotency_key!r} was used for different content"
            )
        return int(existing.id)
    batch = LedgerBatch()
    batch.add(entry)
    batch.flush(conn, directory, now)
    assert entry.id is not None
    return entry.id


def resolve_entry(
    conn: Connection,
    directory: AccountDirectory,
    entry_id: int,
    status: EntryStatus,
    reason: str,
    now: datetime,
) -> None:
    already = conn.execute(
        select(_resolutions.c.status).where(_resolutions.c.entry_id == entry_id)
    ).scalar_one_or_none()
    if already is not None:
        raise AlreadyResolved(f"entry {entry_id} was already {already}")
    batch = LedgerBatch()
    batch.resolve(entry_id, status, reason)
    batch.flush(conn, directory, now)
