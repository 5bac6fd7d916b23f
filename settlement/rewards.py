"""The reward lifecycle and the ledger entries each transition writes.

authorized (pending entry) -> cleared (posted, priced on the cleared amount) -> matured
(pending -> available after the hold); an authorized reward is voided by a reversal or by
expiry, and a voided one is priced again if its clearing arrives after all. A refund claws back
the refunded share. The money rules themselves are pure functions in `matching.lifecycle`;
this module turns each change of a reward's terms into the entries that move exactly the
change in its net reward and commission.

Entries are keyed by reward and transition (`reward:{id}:accrue`, `:clear`, `:clear:{event}`,
`:reauth:{event}`, `:mature`, `:clawback:{event}`), so a transition replayed after a crash
cannot write twice.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy import Connection, bindparam, update

from matching.lifecycle import RewardTerms, after_refund
from settlement.ledger.accounts import AccountDirectory, AccountKind, account_code
from settlement.ledger.bulk import KEYS, bulk_insert, execute_many, keys_param
from settlement.ledger.writer import (
    Entry,
    EntryStatus,
    LedgerBatch,
    Posting,
    TotalsChange,
    significant,
)
from settlement.outbox import OutboxEventType, OutboxRow, write_outbox
from settlement.reward_records import (
    REWARD_COLUMNS,
    REWARD_TIMES,
    RewardRecord,
    RewardState,
    RewardStateError,
    balances_query,
    pending_entries_query,
    rewards_query,
    stored_value,
)
from settlement.runs.statements import ACCRUAL_KINDS
from settlement.tables import LedgerEntry, Reward

_rewards = Reward.__table__
_entries = LedgerEntry.__table__

__all__ = [
    "Clawback",
    "RewardBook",
    "RewardRecord",
    "RewardState",
    "RewardStateError",
    "accrual_postings",
]


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
    reward_amount: int  # clawed by this refund
    commission_amount: int


def _require(record: RewardRecord, transition: str, *allowed: RewardState) -> None:
    if record.state not in allowed:
        raise RewardStateError(f"reward {record.id}: cannot {transition} from {record.state}")


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
    # What partners and members are told of these transitions, written with them.
    outbox: list[OutboxRow] = field(default_factory=list)

    # -- loading ---------------------------------------------------------------------------
    def load(self, conn: Connection, reward_ids: set[int]) -> dict[int, RewardRecord]:
        out: dict[int, RewardRecord] = {}
        wanted = [r for r in reward_ids if r not in self.new and r not in self.dirty]
        for rid in reward_ids - set(wanted):
            out[rid] = self.new.get(rid) or self.dirty[rid]
        wanted.sort()
        dialect = conn.dialect.name
        for start in range(0, len(wanted), 5000):
            keys = {KEYS: keys_param(conn, wanted[start : start + 5000])}
            for row in conn.execute(rewards_query(dialect), keys):
                rec = RewardRecord(*row)
                rec.state = RewardState(rec.state)
                for name in REWARD_TIMES:
                    value = getattr(rec, name)
                    if value is not None and value.tzinfo is None:  # SQLite: stored as UTC
                        setattr(rec, name, value.replace(tzinfo=UTC))
                out[rec.id] = rec
            # The one unresolved pending entry of each authorized reward.
            for reward_id, entry_id in conn.execute(pending_entries_query(dialect), keys):
                self.pending_entries[reward_id] = entry_id
        self._load_available(conn, out.values())
        return out

    # -- transitions -----------------------------------------------------------------------
    def open(
        self,
        record: RewardRecord,
        *,
        event_id: int | None,
        auth_expiry_days: int,
        entry_kind: str = "accrual",
    ) -> None:
        """A new reward: pending if it starts at an auth, posted if at a clearing.

        An accepted missing-cashback claim opens a posted reward with no card event, as entry
        kind `manual_accrual`, so statements can tell it from the purchases the feed saw."""
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
            entry_kind,
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
        self._tell(
            record,
            OutboxEventType.REWARD_POSTED if posted else OutboxEventType.REWARD_PENDING,
            record.net_reward_amount,
            record.occurred_at,
        )

    def clear(
        self, record: RewardRecord, terms: RewardTerms, *, event_id: int, at: datetime
    ) -> int:
        """The purchase's clearing: post the reward on `terms` (priced on the cleared amount).

        From authorized, the pending entry is posted as it is when nothing changed, else voided
        and replaced; from voided (an expired or reversed auth whose clearing came after all)
        the reward accrues afresh. Returns the change in the net reward (for budget and caps).
        """
        _require(record, "clear", RewardState.AUTHORIZED, RewardState.VOIDED)
        before = record.net_reward_amount if record.state is RewardState.AUTHORIZED else 0
        pending_id = self._pending_entry_id(record)
        unchanged = (
            record.state is RewardState.AUTHORIZED
            and terms.net_reward_amount == record.net_reward_amount
            and terms.net_commission_amount == record.net_commission_amount
        )
        if unchanged and pending_id is not None:
            self.ledger.resolve(pending_id, EntryStatus.POSTED, "cleared")
            self._booked(record)
        else:
            if pending_id is not None:
                self.ledger.resolve(pending_id, EntryStatus.VOIDED, "recomputed_on_clearing")
            self._entry(
                record,
                "clear",
                "accrual",
                EntryStatus.POSTED,
                accrual_postings(
                    record.member_id,
                    record.merchant_id,
                    terms.net_reward_amount,
                    terms.net_commission_amount,
                ),
                event_id,
                at,
            )
        record.take_terms(terms)
        record.state = RewardState.CLEARED
        record.clearing_event_id = event_id
        record.cleared_at = at
        record.hold_until = at + timedelta(days=record.hold_days)
        self._touch(record)
        self._tell(record, OutboxEventType.REWARD_POSTED, record.net_reward_amount, at)
        return terms.net_reward_amount - before

    def add_clearing(
        self, record: RewardRecord, terms: RewardTerms, *, event_id: int, at: datetime
    ) -> int:
        """An incremental clearing (split shipment): post what the purchase earns more on
        `terms` (priced on all its clearings together). The added part has its own hold, so a
        matured reward is open again until then. Returns the increase in the net reward."""
        _require(record, "add a clearing to", RewardState.CLEARED, RewardState.MATURED)
        added_reward = terms.net_reward_amount - record.net_reward_amount
        added_commission = terms.net_commission_amount - record.net_commission_amount
        assert added_reward >= 0 and added_commission >= 0, (record, terms)
        self._entry(
            record,
            f"clear:{event_id}",
            "accrual",
            EntryStatus.POSTED,
            accrual_postings(record.member_id, record.merchant_id, added_reward, added_commission),
            event_id,
            at,
        )
        record.take_terms(terms)
        if added_reward:
            hold_until = at + timedelta(days=record.hold_days)
            record.state = RewardState.CLEARED
            record.hold_until = max(record.hold_until or hold_until, hold_until)
            self._tell(record, OutboxEventType.REWARD_POSTED, record.net_reward_amount, at)
        self._touch(record)
        return added_reward

    def void(self, record: RewardRecord, *, reason: str, at: datetime) -> int:
        """Void an authorized reward (reversal or expiry). Returns the net reward released."""
        _require(record, "void", RewardState.AUTHORIZED)
        pending_id = self._pending_entry_id(record)
        if pending_id is not None:
            self.ledger.resolve(pending_id, EntryStatus.VOIDED, reason)
        record.state = RewardState.VOIDED
        self._touch(record)
        self._tell(record, OutboxEventType.REWARD_VOIDED, record.net_reward_amount, at)
        return record.net_reward_amount

    def refund(
        self,
        record: RewardRecord,
        *,
        refund_amount: int,
        event_id: int,
        at: datetime,
    ) -> Clawback:
        """Claw back the refunded share of the purchase (`matching.lifecycle.after_refund`).

        Before the clearing the pending entry is replaced by one for what remains (a full
        refund voids the reward); after it, a clawback entry takes the difference from the
        member's pending cashback, then from available, and any shortfall becomes a recovery
        balance the member owes, never a silent negative. A voided reward only remembers the
        refund, so that a late clearing is priced net of it.
        """
        terms = after_refund(record.terms, refund_amount)
        claw = Clawback(
            terms.clawed_reward_amount - record.clawed_reward_amount,
            terms.clawed_commission_amount - record.clawed_commission_amount,
        )
        assert claw.reward_amount >= 0 and claw.commission_amount >= 0
        if record.state is RewardState.VOIDED:
            record.take_terms(terms)
            self._touch(record)
            return Clawback(0, 0)
        if record.state is RewardState.AUTHORIZED:
            self._reauthorize(record, terms, event_id=event_id, at=at)
            return claw
        record.take_terms(terms)
        self._touch(record)
        if claw.reward_amount == 0 and claw.commission_amount == 0:
            return claw
        # What of this reward still sits in pending is taken first.
        still_pending = (
            record.net_reward_amount + claw.reward_amount - record.available_reward_amount
        )
        from_pending = max(min(claw.reward_amount, still_pending), 0)
        member = [Posting(AccountKind.MEMBER_PENDING, record.member_id, -from_pending)]
        rest = claw.reward_amount - from_pending
        if rest:
            available = self.available_amount(record.member_id, record.currency)
            taken = min(available, rest)
            self.available_cache[(record.member_id, record.currency)] = available - taken
            record.available_reward_amount -= rest
            member += [
                Posting(AccountKind.MEMBER_AVAILABLE, record.member_id, -taken),
                Posting(AccountKind.MEMBER_RECOVERY, record.member_id, -(rest - taken)),
            ]
        self._entry(
            record,
            f"clawback:{event_id}",
            "clawback",
            EntryStatus.POSTED,
            significant(
                [
                    Posting(
                        AccountKind.MERCHANT_RECEIVABLE,
                        record.merchant_id,
                        claw.reward_amount + claw.commission_amount,
                    ),
                    Posting(AccountKind.PLATFORM_REVENUE, None, -claw.commission_amount),
                    *member,
                ]
            ),
            event_id,
            at,
        )
        self._tell(record, OutboxEventType.REWARD_CLAWED_BACK, claw.reward_amount, at)
        return claw

    def _reauthorize(
        self, record: RewardRecord, terms: RewardTerms, *, event_id: int, at: datetime
    ) -> None:
        """An authorized reward's terms changed before clearing: a pending entry for the rest."""
        pending_id = self._pending_entry_id(record)
        if pending_id is not None:
            self.ledger.resolve(pending_id, EntryStatus.VOIDED, "refund_before_clearing")
        before = record.net_reward_amount
        record.take_terms(terms)
        if terms.fully_refunded or terms.net_reward_amount <= 0:
            record.state = RewardState.VOIDED
            self._tell(record, OutboxEventType.REWARD_VOIDED, before, at)
        else:
            self._tell(record, OutboxEventType.REWARD_PENDING, terms.net_reward_amount, at)
            entry = self._entry(
                record,
                f"reauth:{event_id}",
                "accrual",
                EntryStatus.PENDING,
                accrual_postings(
                    record.member_id,
                    record.merchant_id,
                    terms.net_reward_amount,
                    terms.net_commission_amount,
                ),
                event_id,
                at,
            )
            if entry is not None:
                self.pending_entries[record.id] = entry
        self._touch(record)

    def mature(self, record: RewardRecord, *, at: datetime) -> int:
        """After the hold: what of the net reward is still pending becomes available."""
        _require(record, "mature", RewardState.CLEARED)
        amount = record.net_reward_amount - record.available_reward_amount
        if amount > 0:
            # A reward matures again only after an incremental clearing reopened it; its
            # key then names the hold it waited for.
            again = record.matured_at is not None
            self._entry(
                record,
                f"mature:{record.hold_until:%Y%m%d%H%M%S}" if again else "mature",
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
            record.available_reward_amount += amount
            self._tell(record, OutboxEventType.REWARD_AVAILABLE, amount, at)
        record.state = RewardState.MATURED
        record.matured_at = at
        self._touch(record)
        return max(amount, 0)

    # -- helpers ---------------------------------------------------------------------------
    def available_amount(self, member_id: int, currency: str) -> int:
        """The member's available balance as this book has moved it (`load` reads it)."""
        found = self.available_cache.get((member_id, currency))
        assert found is not None, f"available balance of member {member_id} was not loaded"
        return found

    def _load_available(self, conn: Connection, records: Iterable[RewardRecord]) -> None:
        """Available balances of the members whose rewards were loaded: a refund after
        maturity takes from there, and must know how much there is."""
        wanted = {
            account_code(AccountKind.MEMBER_AVAILABLE, r.member_id, r.currency): (
                r.member_id,
                r.currency,
            )
            for r in records
            if (r.member_id, r.currency) not in self.available_cache
        }
        for key in wanted.values():
            self.available_cache[key] = 0
        codes = sorted(wanted)
        for start in range(0, len(codes), 5000):
            for code, amount in conn.execute(
                balances_query(conn.dialect.name),
                {KEYS: keys_param(conn, codes[start : start + 5000])},
            ):
                self.available_cache[wanted[code]] = amount
        # Maturations written earlier in this book are not in the table yet.
        loaded = set(wanted.values())
        for entry in self.ledger.entries:
            if entry.kind != "maturation" or entry.member_id is None:
                continue
            key = (entry.member_id, entry.currency)
            if key in loaded:
                self.available_cache[key] += entry.postings[1].amount

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
        entry = self.ledger.add(
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
        if status is EntryStatus.POSTED and kind in ACCRUAL_KINDS:
            self._booked(record)
        return entry

    def _booked(self, record: RewardRecord) -> None:
        """An accrual of the reward is booked as posted by this book: written posted, or its
        pending entry resolved posted, both at `now` (the flush's time, the entries' created_at
        and the resolutions' resolved_at). The first booking is the one the reward keeps: the
        period its purchase counts in. Every such booking passes here, so `booked_at` agrees
        with the ledger (`clo ledger check` verifies it). Every caller writes the record (new
        or touched), so the time goes out with the reward's other changes."""
        if record.booked_at is None:
            record.booked_at = self.now

    def _tell(
        self, record: RewardRecord, type_: OutboxEventType, amount: int, at: datetime
    ) -> None:
        # amount: the net reward for pending and posted, the part moved for the others. The
        # tuple is `outbox_row`'s, written out: one per reward change on the feed's hot path.
        self.outbox.append(
            (
                type_.value,
                at,
                self.now,
                record.member_id,
                record.merchant_id,
                record.offer_id,
                record.id,
                amount,
                record.currency,
                None,
            )
        )

    def _touch(self, record: RewardRecord) -> None:
        if record.id not in self.new:
            self.dirty[record.id] = record

    def flush(
        self,
        conn: Connection,
        directory: AccountDirectory,
        *,
        hold: list[TotalsChange] | None = None,
    ) -> None:
        """Write the rewards, their entries and outbox rows (`LedgerBatch.flush` on `hold`)."""
        if self.new:
            bulk_insert(
                conn,
                _rewards,
                REWARD_COLUMNS,
                [
                    tuple(stored_value(r, name) for name in REWARD_COLUMNS)
                    for r in self.new.values()
                ],
            )
        if self.dirty:
            mutable = [
                c
                for c in REWARD_COLUMNS
                if c not in ("id", "member_id", "offer_id", "merchant_id", "currency")
            ]
            execute_many(
                conn,
                update(_rewards)
                .where(_rewards.c.id == bindparam("r_id"))
                .values({c: bindparam(f"r_{c}") for c in mutable}),
                [
                    {"r_id": r.id, **{f"r_{c}": stored_value(r, c) for c in mutable}}
                    for r in self.dirty.values()
                ],
            )
        self.ledger.flush(conn, directory, self.now, hold=hold)
        write_outbox(conn, self.outbox)
        self.outbox = []
        self.new.clear()
        self.dirty.clear()
        self.pending_entries.clear()
        self.available_cache.clear()
        self.ledger = LedgerBatch()
