"""The reward lifecycle and the ledger entries each transition writes.

authorized (pending entry) -> cleared (posted, recomputed on the cleared amount) -> matured
(pending -> available after the hold); an authorized reward is voided by a reversal or by
expiry; a refund claws back in proportion to the refunded share, never more than was earned.

Entries are keyed by reward and transition (`reward:{id}:accrue`, `:clear`, `:mature`,
`:clawback:{event}`), so a transition replayed after a crash cannot write twice.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from datetime import datetime, timedelta
from enum import StrEnum

from sqlalchemy import Connection, and_, bindparam, select, update

from matching.money import prorate
from settlement.ledger.accounts import AccountDirectory, AccountKind, account_code
from settlement.ledger.bulk import bulk_insert, execute_many, one_of
from settlement.ledger.writer import Entry, EntryStatus, LedgerBatch, Posting, significant
from settlement.tables import LedgerAccount, LedgerEntry, LedgerEntryResolution, Reward

_rewards = Reward.__table__
_entries = LedgerEntry.__table__
_resolutions = LedgerEntryResolution.__table__
_accounts = LedgerAccount.__table__


class RewardState(StrEnum):
    AUTHORIZED = "authorized"
    CLEARED = "cleared"
    MATURED = "matured"
    VOIDED = "voided"


@dataclass(slots=True)
class RewardRecord:
    id: int
    member_id: int
    offer_id: int
    merchant_id: int
    currency: str
    state: RewardState
    auth_event_id: int | None
    clearing_event_id: int | None
    spend_amount: int
    reward_amount: int
    commission_amount: int
    occurred_at: datetime
    hold_days: int
    refunded_spend_amount: int = 0
    clawed_reward_amount: int = 0
    clawed_commission_amount: int = 0
    hold_until: datetime | None = None
    expires_at: datetime | None = None
    cleared_at: datetime | None = None
    matured_at: datetime | None = None

    @property
    def net_reward_amount(self) -> int:
        return self.reward_amount - self.clawed_reward_amount


_COLUMNS = [f.name for f in fields(RewardRecord)]


def accrual_postings(
    member_id: int, merchant_id: int, reward_amount: int, commission_amount: int
) -> tuple[Posting, ...]:
    """The merchant owes reward plus commission; the member is owed the reward."""
    return significant(
        [
            Posting(
                AccountKind.MERCHANT_RECEIVABLE, merchant_id, -(reward_amount + commission_amount)
            ),
            Posting(AccountKind.MEMBER_PENDING, member_id, reward_amount),
            Posting(AccountKind.PLATFORM_REVENUE, None, commission_amount),
        ]
    )


@dataclass(frozen=True, slots=True)
class Clawback:
    refunded_spend_amount: int  # cumulative, after this refund
    reward_amount: int  # clawed by this refund
    commission_amount: int


def clawback_for_refund(record: RewardRecord, refund_amount: int) -> Clawback:
    """Claw back the refunded share. Targets are cumulative, so rounding never lets the total
    clawed exceed what was earned, however the refunds are split."""
    refunded = min(record.spend_amount, record.refunded_spend_amount + refund_amount)
    target_reward = prorate(record.reward_amount, refunded, record.spend_amount)
    target_commission = prorate(record.commission_amount, refunded, record.spend_amount)
    return Clawback(
        refunded,
        max(0, target_reward - record.clawed_reward_amount),
        max(0, target_commission - record.clawed_commission_amount),
    )


def _stored(record: RewardRecord, name: str) -> object:
    # States go in as their plain values: COPY would write an enum member's name.
    return record.state.value if name == "state" else getattr(record, name)


@dataclass(slots=True)
class RewardBook:
    """Reward transitions for one unit of work, written in bulk by `flush`."""

    now: datetime
    ledger: LedgerBatch = field(default_factory=LedgerBatch)
    new: dict[int, RewardRecord] = field(default_factory=dict)
    dirty: dict[int, RewardRecord] = field(default_factory=dict)
    # reward id -> its open pending entry: an id if written, the Entry if written by this book
    pending_entries: dict[int, int | Entry] = field(default_factory=dict)
    available_cache: dict[tuple[int, str], int] = field(default_factory=dict)

    # -- loading ---------------------------------------------------------------------------
    def load(self, conn: Connection, reward_ids: set[int]) -> dict[int, RewardRecord]:
        out: dict[int, RewardRecord] = {}
        wanted = [r for r in reward_ids if r not in self.new and r not in self.dirty]
        for rid in reward_ids - set(wanted):
            out[rid] = self.new.get(rid) or self.dirty[rid]
        cols = [_rewards.c[name] for name in _COLUMNS]
        for start in range(0, len(wanted), 5000):
            chunk = wanted[start : start + 5000]
            for row in conn.execute(select(*cols).where(one_of(conn, _rewards.c.id, chunk))):
                rec = RewardRecord(*row)
                rec.state = RewardState(rec.state)
                out[rec.id] = rec
            # The one unresolved pending entry of each authorized reward.
            for reward_id, entry_id in conn.execute(
                select(_entries.c.reward_id, _entries.c.id)
                .select_from(
                    _entries.outerjoin(_resolutions, _resolutions.c.entry_id == _entries.c.id)
                )
                .where(
                    and_(
                        one_of(conn, _entries.c.reward_id, chunk),
                        _entries.c.initial_status == EntryStatus.PENDING.value,
                        _resolutions.c.entry_id.is_(None),
                    )
                )
            ):
                self.pending_entries[reward_id] = entry_id
        return out

    # -- transitions -----------------------------------------------------------------------
    def open(self, record: RewardRecord, *, event_id: int, auth_expiry_days: int) -> None:
        """A new reward: pending if it starts at an auth, posted if at a clearing."""
        posted = record.state is RewardState.CLEARED
        if posted:
            record.cleared_at = record.occurred_at
            record.clearing_event_id = event_id
            record.hold_until = record.occurred_at + timedelta(days=record.hold_days)
        else:
            record.auth_event_id = event_id
            record.expires_at = record.occurred_at + timedelta(days=auth_expiry_days)
        entry = self._entry(
            record,
            "accrue",
            "accrual",
            EntryStatus.POSTED if posted else EntryStatus.PENDING,
            accrual_postings(
                record.member_id, record.merchant_id, record.reward_amount, record.commission_amount
            ),
            event_id,
            record.occurred_at,
        )
        self.new[record.id] = record
        if not posted and entry is not None:
            self.pending_entries[record.id] = entry

    def clear(
        self,
        record: RewardRecord,
        *,
        event_id: int,
        cleared_spend_amount: int,
        reward_amount: int,
        commission_amount: int,
        at: datetime,
    ) -> int:
        """Post an authorized reward, recomputed on the cleared amount. Returns the change in
        reward amount (for the budget)."""
        if record.state is not RewardState.AUTHORIZED:
            return 0
        delta = reward_amount - record.reward_amount
        pending_id = self._pending_entry_id(record)
        if delta == 0 and commission_amount == record.commission_amount:
            if pending_id is not None:
                self.ledger.resolve(pending_id, EntryStatus.POSTED, "cleared")
        else:
            if pending_id is not None:
                self.ledger.resolve(pending_id, EntryStatus.VOIDED, "recomputed_on_clearing")
            self._entry(
                record,
                "clear",
                "accrual",
                EntryStatus.POSTED,
                accrual_postings(
                    record.member_id, record.merchant_id, reward_amount, commission_amount
                ),
                event_id,
                at,
            )
        record.state = RewardState.CLEARED
        record.clearing_event_id = event_id
        record.spend_amount = cleared_spend_amount
        record.reward_amount = reward_amount
        record.commission_amount = commission_amount
        record.cleared_at = at
        record.hold_until = at + timedelta(days=record.hold_days)
        self._touch(record)
        return delta

    def void(self, record: RewardRecord, *, reason: str) -> int:
        """Void an authorized reward (reversal or expiry). Returns the reward released."""
        if record.state is not RewardState.AUTHORIZED:
            return 0
        pending_id = self._pending_entry_id(record)
        if pending_id is not None:
            self.ledger.resolve(pending_id, EntryStatus.VOIDED, reason)
        record.state = RewardState.VOIDED
        self._touch(record)
        return record.reward_amount

    def refund(
        self,
        conn: Connection,
        record: RewardRecord,
        *,
        refund_amount: int,
        event_id: int,
        at: datetime,
    ) -> Clawback:
        if record.state is RewardState.VOIDED or record.spend_amount <= 0:
            return Clawback(record.refunded_spend_amount, 0, 0)
        claw = clawback_for_refund(record, refund_amount)
        key = f"clawback:{event_id}"
        if record.state is RewardState.AUTHORIZED:
            # Not cleared yet: replace the pending entry by one for what remains.
            pending_id = self._pending_entry_id(record)
            if pending_id is not None:
                self.ledger.resolve(pending_id, EntryStatus.VOIDED, "refund_before_clearing")
            remaining_reward = record.reward_amount - claw.reward_amount
            remaining_commission = record.commission_amount - claw.commission_amount
            record.reward_amount, record.commission_amount = remaining_reward, remaining_commission
            record.spend_amount -= claw.refunded_spend_amount - record.refunded_spend_amount
            if record.spend_amount <= 0 or remaining_reward <= 0:
                record.state = RewardState.VOIDED
            else:
                entry = self._entry(
                    record,
                    f"reauth:{event_id}",
                    "accrual",
                    EntryStatus.PENDING,
                    accrual_postings(
                        record.member_id, record.merchant_id, remaining_reward, remaining_commission
                    ),
                    event_id,
                    at,
                )
                if entry is not None:
                    self.pending_entries[record.id] = entry
            self._touch(record)
            return claw
        if claw.reward_amount == 0 and claw.commission_amount == 0:
            record.refunded_spend_amount = claw.refunded_spend_amount
            self._touch(record)
            return claw
        merchant_credit = Posting(
            AccountKind.MERCHANT_RECEIVABLE,
            record.merchant_id,
            claw.reward_amount + claw.commission_amount,
        )
        revenue = Posting(AccountKind.PLATFORM_REVENUE, None, -claw.commission_amount)
        if record.state is RewardState.CLEARED:
            member = [Posting(AccountKind.MEMBER_PENDING, record.member_id, -claw.reward_amount)]
        else:
            # Matured: take from available; a shortfall becomes a recovery balance the member
            # owes, never a silent negative available balance.
            available = self.available_amount(conn, record.member_id, record.currency)
            taken = min(available, claw.reward_amount)
            self.available_cache[(record.member_id, record.currency)] = available - taken
            member = [
                Posting(AccountKind.MEMBER_AVAILABLE, record.member_id, -taken),
                Posting(
                    AccountKind.MEMBER_RECOVERY, record.member_id, -(claw.reward_amount - taken)
                ),
            ]
        self._entry(
            record,
            key,
            "clawback",
            EntryStatus.POSTED,
            significant([merchant_credit, revenue, *member]),
            event_id,
            at,
        )
        record.refunded_spend_amount = claw.refunded_spend_amount
        record.clawed_reward_amount += claw.reward_amount
        record.clawed_commission_amount += claw.commission_amount
        self._touch(record)
        return claw

    def mature(self, record: RewardRecord, *, at: datetime) -> int:
        if record.state is not RewardState.CLEARED:
            return 0
        amount = record.net_reward_amount
        if amount > 0:
            self._entry(
                record,
                "mature",
                "maturation",
                EntryStatus.POSTED,
                (
                    Posting(AccountKind.MEMBER_PENDING, record.member_id, -amount),
                    Posting(AccountKind.MEMBER_AVAILABLE, record.member_id, amount),
                ),
                None,
                at,
            )
            key = (record.member_id, record.currency)
            if key in self.available_cache:
                self.available_cache[key] += amount
        record.state = RewardState.MATURED
        record.matured_at = at
        self._touch(record)
        return amount

    # -- helpers ---------------------------------------------------------------------------
    def available_amount(self, conn: Connection, member_id: int, currency: str) -> int:
        key = (member_id, currency)
        if key not in self.available_cache:
            code = account_code(AccountKind.MEMBER_AVAILABLE, member_id, currency)
            self.available_cache[key] = (
                conn.execute(
                    select(_accounts.c.posted_amount).where(_accounts.c.code == code)
                ).scalar_one_or_none()
                or 0
            )
            # Maturations written earlier in this book are not in the table yet.
            for entry in self.ledger.entries:
                if entry.kind == "maturation" and entry.member_id == member_id:
                    self.available_cache[key] += entry.postings[1].amount
        return self.available_cache[key]

    def _pending_entry_id(self, record: RewardRecord) -> int | Entry | None:
        return self.pending_entries.pop(record.id, None)

    def _entry(
        self,
        record: RewardRecord,
        key: str,
        kind: str,
        status: EntryStatus,
        postings: tuple[Posting, ...],
        event_id: int | None,
        at: datetime,
    ) -> Entry | None:
        if len(postings) < 2:
            return None  # a zero reward moves nothing
        return self.ledger.add(
            Entry(
                idempotency_key=f"reward:{record.id}:{key}",
                kind=kind,
                status=status,
                currency=record.currency,
                postings=postings,
                effective_at=at,
                event_id=event_id,
                offer_id=record.offer_id,
                merchant_id=record.merchant_id,
                member_id=record.member_id,
                reward_id=record.id,
            )
        )

    def _touch(self, record: RewardRecord) -> None:
        if record.id not in self.new:
            self.dirty[record.id] = record

    def flush(self, conn: Connection, directory: AccountDirectory) -> None:
        if self.new:
            bulk_insert(
                conn,
                _rewards,
                _COLUMNS,
                [tuple(_stored(r, name) for name in _COLUMNS) for r in self.new.values()],
            )
        if self.dirty:
            mutable = [
                c
                for c in _COLUMNS
                if c not in ("id", "member_id", "offer_id", "merchant_id", "currency")
            ]
            execute_many(
                conn,
                update(_rewards)
                .where(_rewards.c.id == bindparam("r_id"))
                .values({c: bindparam(f"r_{c}") for c in mutable}),
                [
                    {"r_id": r.id, **{f"r_{c}": _stored(r, c) for c in mutable}}
                    for r in self.dirty.values()
                ],
            )
        self.ledger.flush(conn, directory, self.now)
        self.new.clear()
        self.dirty.clear()
        self.pending_entries.clear()
        self.available_cache.clear()
        self.ledger = LedgerBatch()
