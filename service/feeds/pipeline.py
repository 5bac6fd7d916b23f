"""The ingest pipeline: one path for webhooks, feed files, Plaid pages and replays.

A batch is one transaction, in stages: parse each input into a `CardEvent` (or a `Rejection`
with its reason); drop duplicates by (source, external_id); load, in bulk, what deciding the
batch may need (`loading.load_context`: the originals its events name, open auths, events
that were waiting for them, its members and stored rewards, locked; counters; budgets, read
without a lock); decide each event in the order it came without touching the database
(`batch.BatchState`, with the money rules of `matching`); reserve its budgets within their
limits (on PostgreSQL committed ahead of the batch, `settlement.budget_holds`); write events,
rewards, ledger entries and counters, then the rows every batch shares (shared balances,
daily bookings); commit. A crash loses at most the batch in flight,
and replaying it changes nothing because every event is keyed; a batch that loses a race for
an event key to a concurrent one retries and reports that event as a duplicate, and one whose
budget reservation is refused is decided again with those budgets locked.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import Connection, Engine

from matching.events import (
    EXTERNAL_ID_MAX_CHARS,
    CardEvent,
    EventKind,
    EventRejected,
    Source,
    parse_event,
)
from service.config import Settings
from service.feeds import context as ctx
from service.feeds import originals
from service.feeds.batch import BatchState, Linked, Row, reserve_budgets, write_batch_state
from service.feeds.collector import collector_paused
from service.feeds.loading import load_context
from service.feeds.rejects import Rejection, write_rejections
from service.feeds.stages import REFUSED_STAGE, StageClock
from service.offers.catalog import OfferCatalog
from service.security.card_numbers import find_card_number
from service.tables import CardEventRow, RejectedEvent
from settlement.budget import BudgetMoved
from settlement.budget_holds import BudgetHolds
from settlement.ledger.accounts import AccountDirectory
from settlement.ledger.bulk import bulk_insert
from settlement.ledger.ids import allocate_ids
from settlement.ledger.slots import batch_slot
from settlement.ledger.writer import TotalsChange
from settlement.rewards import RewardBook
from settlement.tables import Reward

_events = CardEventRow.__table__
_rejected = RejectedEvent.__table__
_rewards = Reward.__table__
# Stored text that is never a card number: refused if it holds one. Merchant ids and event ids
# are identifiers whose digits may pass the card checks (a 15-digit MID can), so they are not.
_FREE_TEXT_FIELDS = ("descriptor", "merchant_name", "brand_hint", "acquirer_id", "postal_code")
SQLITE_INGEST_CACHE_KIB = 64 * 1024
BATCH_ATTEMPTS = 3
EVENT_KEY_CONSTRAINT = "uq_card_event_source_external_id"
EVENT_COLUMNS = [
    "id",
    "source",
    "external_id",
    "kind",
    "card_id",
    "member_id",
    "merchant_id",
    "amount",
    "currency",
    "occurred_at",
    "mid",
    "acquirer_id",
    "descriptor",
    "merchant_name",
    "mcc",
    "country",
    "postal_code",
    "brand_hint",
    "channel",
    "original_external_id",
    "linked_event_id",
    "outcome",
    "reason",
    "reward_id",
    "decisions_json",
    "ingested_at",
]


@dataclass(slots=True)
class IngestOutcome:
    """What became of one input; a duplicate reports the first result."""

    status: str  # accepted | duplicate | rejected
    external_id: str | None = None
    event_id: int | None = None
    outcome: str | None = None  # rewarded, no_reward, no_offer, voided, clawback, ...
    reason: str | None = None
    reward_amount: int = 0
    field: str | None = None
    line: int = 0
    message: str | None = None  # for a rejection: what is wrong, in a sentence for people

    def as_dict(self) -> dict[str, object]:
        return {k: getattr(self, k) for k in self.__slots__ if getattr(self, k) is not None}


@dataclass
class IngestSummary:
    received: int = 0
    accepted: int = 0
    duplicates: int = 0
    rejected: int = 0
    rewarded: int = 0
    reward_amount: int = 0
    rejected_reasons: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    outcomes: dict[str, int] = field(default_factory=lambda: defaultdict(int))

    def add(self, o: IngestOutcome) -> None:
        self.received += 1
        if o.status == "accepted":
            self.accepted += 1
            self.outcomes[o.outcome or "?"] += 1
            if o.outcome == "rewarded":
                self.rewarded += 1
                self.reward_amount += o.reward_amount
        elif o.status == "duplicate":
            self.duplicates += 1
        else:
            self.rejected += 1
            self.rejected_reasons[o.reason or "?"] += 1

    def merge(self, other: IngestSummary) -> None:
        """Add another process's summary (`clo ingest --workers`)."""
        for name in ("received", "accepted", "duplicates", "rejected", "rewarded", "reward_amount"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        for reason, n in other.rejected_reasons.items():
            self.rejected_reasons[reason] += n
        for outcome, n in other.outcomes.items():
            self.outcomes[outcome] += n


class IngestPipeline:
    def __init__(
        self,
        engine: Engine,
        settings: Settings | None = None,
        *,
        batch_events: int | None = None,
        catalog: OfferCatalog | None = None,
        balance_slot: int | None = None,
    ) -> None:
        """The rules' numbers come from `Settings` alone (defaults included); a process builds
        one pipeline at its start and keeps it, with its offer catalog. An ingest process
        gives its own `balance_slot` (`settlement.ledger.slots`); without one, each batch
        takes one at random."""
        settings = settings or Settings()
        self.engine = engine
        self.auth_expiry_days = settings.auth_expiry_days
        self.link_tolerance_bps = settings.clearing_link_tolerance_bps
        self.link_window_days = settings.clearing_link_window_days
        self.batch_events = batch_events or settings.ingest_batch_events
        self.catalog = catalog or OfferCatalog()
        self.directory = AccountDirectory()
        self.clock = StageClock()
        self.balance_slot = balance_slot

    # -- entry points --------------------------------------------------------------------------
    def ingest(self, records: Iterable, source: Source, now: datetime) -> Iterator[IngestOutcome]:
        """Ingest a stream in batches, one commit each; yields an outcome per input."""
        batch: list = []
        for record in records:
            batch.append(record)
            if len(batch) >= self.batch_events:
                yield from self.ingest_batch(batch, source, now)
                batch = []
        if batch:
            yield from self.ingest_batch(batch, source, now)

    def ingest_batch(self, records: Sequence, source: Source, now: datetime) -> list[IngestOutcome]:
        with collector_paused():
            return self._ingest_batch(records, source, now)

    def _ingest_batch(
        self, records: Sequence, source: Source, now: datetime
    ) -> list[IngestOutcome]:
        clock = self.clock
        clock.start()
        outcomes: list[IngestOutcome | None] = [None] * len(records)
        parsed: list[tuple[int, CardEvent]] = []
        rejects: list[Rejection] = []
        for i, rec in enumerate(records):
            if rec.error is not None:
                rejects.append(Rejection(i, rec, *rec.error))
                continue
            try:
                event = parse_event(rec.fields, source)
            except EventRejected as exc:
                ext = rec.fields.get("external_id") if rec.fields else None
                ext_text = str(ext)[:EXTERNAL_ID_MAX_CHARS] if ext else None
                rejects.append(Rejection(i, rec, exc.field, exc.reason, exc.detail, ext_text))
                continue
            bad_field = card_number_field(event)
            if bad_field:
                detail = f"{bad_field} holds what looks like a full card number"
                rejects.append(
                    Rejection(
                        i, rec, bad_field, "card_number_not_allowed", detail, event.external_id
                    )
                )
                continue
            parsed.append((i, event))
        clock.lap("parse")

        moved_budgets: frozenset[int] = frozenset()
        for attempt in range(1, BATCH_ATTEMPTS + 1):
            outcomes = [None] * len(records)
            # The last attempt after a refusal locks every budget it reads: it cannot fail so.
            lock: bool | frozenset[int] = (
                True if moved_budgets and attempt == BATCH_ATTEMPTS else moved_budgets
            )
            try:
                # The holds end after the batch's transaction: one that did not commit gives
                # back at once what it reserved ahead of it.
                with BudgetHolds(self.engine) as holds, self.engine.begin() as conn:
                    prepare_ingest_connection(conn)
                    clock.lap("begin")
                    self._process(
                        conn,
                        source,
                        now,
                        parsed,
                        list(rejects),
                        records,
                        outcomes,
                        holds.on(conn),
                        lock,
                    )
                clock.lap("commit")
                return outcomes  # type: ignore[return-value]
            except BudgetMoved as moved:
                # Another batch took what this one counted on: decide again with those budgets
                # locked from the start, so they cannot move again.
                clock.lap(REFUSED_STAGE)
                clock.retries["budget_moved"] += 1
                moved_budgets |= moved.offer_ids
                if attempt == BATCH_ATTEMPTS:
                    raise
            except Exception as exc:
                # Another batch stored one of these events first (or the two deadlocked):
                # the next attempt reads its result and reports a duplicate.
                if attempt == BATCH_ATTEMPTS or not lost_a_race(exc):
                    raise
                clock.lap(REFUSED_STAGE)
                clock.retries["lost_a_race"] += 1
        raise AssertionError("unreachable")

    # -- the batch -----------------------------------------------------------------------------
    def _process(
        self,
        conn: Connection,
        source: Source,
        now: datetime,
        parsed: list[tuple[int, CardEvent]],
        rejects: list[Rejection],
        records: Sequence,
        outcomes: list,
        holds: BudgetHolds,
        lock_budgets: bool | frozenset[int] = frozenset(),
    ) -> None:
        # 1. Duplicates: inside the batch, then against what is stored.
        first_in_batch: dict[str, int] = {}
        unique: list[tuple[int, CardEvent]] = []
        later_copies: list[tuple[int, int]] = []
        for i, event in parsed:
            if event.external_id in first_in_batch:
                later_copies.append((i, first_in_batch[event.external_id]))
            else:
                first_in_batch[event.external_id] = i
                unique.append((i, event))
        stored = originals.stored_results(conn, source, [e.external_id for _, e in unique])
        fresh = []
        for i, event in unique:
            found = stored.get(event.external_id)
            if found is None:
                fresh.append((i, event))
            else:
                outcomes[i] = IngestOutcome(
                    "duplicate",
                    event.external_id,
                    found.event_id,
                    found.outcome,
                    found.reason,
                    found.reward_amount,
                    line=getattr(records[i], "line", 0),
                )

        clock = self.clock
        clock.lap("duplicates")
        # 2. Cards and brands.
        index = self.catalog.current(conn)
        clock.lap("catalog")
        cards = ctx.load_cards(conn, (e.card_id for _, e in fresh))
        rows: list[Row] = []
        for i, event in fresh:
            card = cards.get(event.card_id)
            if card is None:
                detail = f"card {event.card_id} is not enrolled"
                rejects.append(
                    Rejection(i, records[i], "card_id", "unknown_card", detail, event.external_id)
                )
                continue
            rows.append(Row(i, event, card.member_id, index.brand_for(event)))

        clock.lap("cards")
        # 3. What later events refer to: stored originals and in-batch ones.
        ids = allocate_ids(conn, _events, len(rows))
        for row, event_id in zip(rows, ids, strict=True):
            row.id = event_id
        linked = originals.load_originals(conn, source, rows)
        open_auths = originals.load_open_auths(conn, rows, self.link_window_days)
        waiting = originals.load_waiting(conn, source, rows)

        clock.lap("originals")
        # 4. Load, in bulk and locked, what deciding the batch may need.
        book = RewardBook(now=now)
        stored_rewards = [a.reward_id for a in linked.values()]
        stored_rewards += [a.reward_id for auths in open_auths.values() for a in auths]
        stored_rewards += [c.reward_id for c in waiting.early_clearings.values()]
        context = load_context(
            conn,
            rows,
            index,
            self.catalog,
            book,
            (r for r in stored_rewards if r is not None),
            auth_expiry_days=self.auth_expiry_days,
            lock_budgets=lock_budgets,
            budgets=holds,
        )

        clock.lap("load")
        # 4. Decide: each event in the order it came, no database.
        batch = BatchState(context, book)
        for row in rows:
            self._apply(batch, row, cards[row.event.card_id], linked, open_auths, waiting)
        rejected = [row for row in rows if row.rejection is not None]
        if rejected:
            rows = [row for row in rows if row.rejection is None]
            for row in rejected:
                assert row.rejection is not None
                rejects.append(
                    Rejection(row.index, records[row.index], *row.rejection, row.event.external_id)
                )

        clock.lap("decide")
        # 5. Reserve budgets, each within its limit, before anything is written: a batch that
        # another took its budget from is refused here, having spent only its reads and its
        # decisions (reserved last, the refused batches of two ingest processes wrote
        # everything before rolling back, and 2 workers ran at 0.80x one). On PostgreSQL the
        # reservation commits at once, ahead of the batch, so no budget row is held through
        # the writes (held there, 2 workers waited 1.3 s per batch for each other).
        reserve_budgets(conn, batch, holds)
        clock.lap("reserve budgets")
        # 6. Write everything.
        self._write_events(conn, source, now, rows)
        originals.update_waited_rows(conn, waiting.stored_rows)
        clock.lap("write events")
        totals: list[TotalsChange] = []
        book.flush(conn, self.directory, hold=totals)
        clock.lap("rewards and ledger")
        write_batch_state(conn, batch)
        write_rejections(conn, source, now, rejects)
        clock.lap("counters and history")
        # Rows every batch shares, last, so each is held only for the commit: budgets the batch
        # frees, cached balances (platform revenue, a merchant's receivable) and daily
        # bookings, these two in this writer's slot's rows (`settlement.ledger.slots`). Every
        # writer takes budgets before them, and them in that order (a batch decided again
        # locks budgets at its start; claims and expiry do too), so two batches cannot
        # deadlock on them.
        holds.write_releases()
        slot = batch_slot(self.balance_slot)
        for change in totals:
            change.write(conn, now, slot)
        clock.lap("balances and bookings")
        for r in rejects:
            line = getattr(r.record, "line", 0)
            outcomes[r.index] = IngestOutcome(
                "rejected", r.external_id, None, None, r.reason, 0, r.field, line, r.detail
            )
        for row in rows:
            outcomes[row.index] = IngestOutcome(
                "accepted",
                row.event.external_id,
                row.id,
                row.outcome,
                row.reason,
                row.reward_amount,
                line=getattr(records[row.index], "line", 0),
            )
        for i, first in later_copies:
            o = outcomes[first]
            outcomes[i] = IngestOutcome(
                "duplicate" if o.status != "rejected" else "rejected",
                o.external_id,
                o.event_id,
                o.outcome,
                o.reason,
                o.reward_amount,
                o.field,
                getattr(records[i], "line", 0),
                o.message,
            )

    def _apply(
        self,
        batch: BatchState,
        row: Row,
        card: ctx.CardStatus,
        linked: dict[str, Linked],
        open_auths: dict[int, list[Linked]],
        waiting: originals.Waiting,
    ) -> None:
        """One event's effect, then that of any refund or reversal that was waiting for it."""
        event = row.event
        original = linked.get(event.original_external_id or "")
        if (
            original is not None
            and original.card_id == event.card_id
            and original.currency != event.currency
        ):
            row.rejection = (
                "currency",
                "currency_mismatch",
                f"{event.kind} in {event.currency} names an event in {original.currency}",
            )
            return
        if card.status != "active" and (
            card.unlinked_at is None or event.occurred_at >= card.unlinked_at
        ):
            row.outcome, row.reason = "not_matched", "card_unlinked"
        elif event.kind is EventKind.AUTH:
            if event.external_id in waiting.early_clearings:
                # Its clearing came first and was priced as the purchase: it is paid already.
                row.linked_event_id = waiting.early_clearings.pop(event.external_id).id
                row.outcome, row.reason = "no_reward", "already_cleared"
            else:
                batch.purchase(row, cleared=False)
        elif event.kind is EventKind.CLEARING:
            auth = originals.find_auth(
                row,
                linked,
                open_auths,
                tolerance_bps=self.link_tolerance_bps,
                window_days=self.link_window_days,
            )
            if auth is None and event.original_external_id:
                auth = waiting.early_clearings.get(event.original_external_id)
            if auth is None:
                batch.purchase(row, cleared=True)
            else:
                batch.clear(row, auth, tolerance_bps=self.link_tolerance_bps)
        elif original is None or original.card_id != event.card_id:
            row.outcome, row.reason = originals.UNLINKED, "original_not_found"
            waiting.add_undoer(row)
        else:
            batch.reverse_or_refund(row, original)
        this = Linked(
            row.id,
            event.kind.value,
            event.card_id,
            row.merchant_id,
            event.amount,
            event.currency,
            event.occurred_at,
            row.reward_id,
            row.outcome,
            row.reason,
        )
        linked[event.external_id] = this
        if event.kind is EventKind.AUTH:
            open_auths.setdefault(event.card_id, []).append(this)
        elif (
            event.kind is EventKind.CLEARING
            and event.original_external_id
            and row.linked_event_id is None
            and row.rejection is None
        ):
            waiting.add_early_clearing(event.original_external_id, this)
        if event.kind in (EventKind.AUTH, EventKind.CLEARING):
            for undoer in waiting.take_undoers(event.external_id, event.card_id):
                if undoer.event.currency == event.currency:
                    batch.reverse_or_refund(undoer, this)

    # -- writes --------------------------------------------------------------------------------
    def _write_events(
        self, conn: Connection, source: Source, now: datetime, rows: list[Row]
    ) -> None:
        bulk_insert(conn, _events, EVENT_COLUMNS, [card_event_row(r, source, now) for r in rows])


def card_number_field(event: CardEvent) -> str | None:
    """The first free-text field of the event that holds what looks like a full card number."""
    return next(
        (f for f in _FREE_TEXT_FIELDS if (v := getattr(event, f)) and find_card_number(v)), None
    )


def lost_a_race(exc: Exception) -> bool:
    """A concurrent batch stored the same event key first, or the two deadlocked (PostgreSQL).

    COPY runs on the driver's cursor, so its errors may arrive unwrapped by SQLAlchemy.
    """
    error = getattr(exc, "orig", None) or exc
    sqlstate = getattr(error, "sqlstate", None)
    if sqlstate == "40P01":  # deadlock_detected
        return True
    constraint = getattr(getattr(error, "diag", None), "constraint_name", None)
    return sqlstate == "23505" and constraint == EVENT_KEY_CONSTRAINT


def prepare_ingest_connection(conn: Connection) -> None:
    if conn.dialect.name == "sqlite":
        # A batch inserts at random places in card_event's indexes (by card, member,
        # merchant): with SQLite's default 2 MiB page cache most of those leaf pages are
        # read back from the file. 64 MiB took the row from 20 to 13.5 us.
        conn.exec_driver_sql(f"PRAGMA cache_size=-{SQLITE_INGEST_CACHE_KIB}")


def card_event_row(r: Row, source: Source, now: datetime) -> tuple:
    """A `card_event` row, values in `EVENT_COLUMNS` order."""
    e = r.event
    return (
        r.id,
        source.value,
        e.external_id,
        e.kind.value,
        e.card_id,
        r.member_id,
        r.merchant_id,
        e.amount,
        e.currency,
        e.occurred_at,
        e.mid,
        e.acquirer_id,
        e.descriptor,
        e.merchant_name,
        e.mcc,
        e.country,
        e.postal_code,
        e.brand_hint,
        e.channel.value,
        e.original_external_id,
        r.linked_event_id,
        r.outcome,
        r.reason,
        r.reward_id,
        json.dumps(r.decisions, separators=(",", ":")) if r.decisions else "[]",
        now,
    )
