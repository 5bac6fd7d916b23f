"""The ingest pipeline: one path for webhooks, feed files, Plaid pages and replays.

A batch is one transaction: parse, drop duplicates by (source, external_id), link clearings,
refunds and reversals to what they follow, match purchases against the offer index, reserve
budgets, write events, rewards, ledger entries and balances, commit. A crash loses at most the
batch in flight, and replaying it changes nothing because every event is keyed.
"""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import Connection, Engine, and_, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from matching.events import CardEvent, EventKind, EventRejected, Source, parse_event
from matching.linking import OpenAuth, link_clearing_to_auth
from matching.match import MatchContext, Reason, match
from matching.match import MemberOfferState as OfferState
from matching.offers import OfferKind, OfferRules, commission_for, reward_for_amount
from service.feeds import context as ctx
from service.offers.catalog import OfferCatalog, aware
from service.security.card_numbers import find_card_number, mask_card_numbers
from service.tables import CardEventRow, RejectedEvent
from settlement.budget import Remaining, apply_reservations, lock_remaining
from settlement.ledger.accounts import AccountDirectory
from settlement.ledger.bulk import insert_rows, one_of
from settlement.ledger.ids import allocate_ids
from settlement.rewards import RewardBook, RewardRecord, RewardState
from settlement.tables import Reward

_events = CardEventRow.__table__
_rejected = RejectedEvent.__table__
_rewards = Reward.__table__
_FREE_TEXT_FIELDS = ("descriptor", "merchant_name")


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


@dataclass(slots=True)
class _Linked:
    """A stored or in-batch event that a later event refers to."""

    id: int
    kind: str
    card_id: int
    merchant_id: int | None
    amount: int
    currency: str
    occurred_at: datetime
    reward_id: int | None
    outcome: str
    reason: str | None
    cleared: bool = False


@dataclass(slots=True)
class _Row:
    index: int
    event: CardEvent
    member_id: int
    merchant_id: int | None
    id: int = 0
    outcome: str = ""
    reason: str | None = None
    reward_id: int | None = None
    reward_amount: int = 0
    linked_event_id: int | None = None
    decisions: list = field(default_factory=list)


class IngestPipeline:
    def __init__(
        self,
        engine: Engine,
        *,
        auth_expiry_days: int = 7,
        link_tolerance_bps: int = 2_500,
        link_window_days: int = 10,
        batch_events: int = 5000,
        catalog: OfferCatalog | None = None,
    ) -> None:
        self.engine = engine
        self.auth_expiry_days = auth_expiry_days
        self.link_tolerance_bps = link_tolerance_bps
        self.link_window_days = link_window_days
        self.batch_events = batch_events
        self.catalog = catalog or OfferCatalog()
        self.directory = AccountDirectory()

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
        outcomes: list[IngestOutcome | None] = [None] * len(records)
        parsed: list[tuple[int, CardEvent]] = []
        rejects: list[tuple[int, object, str, str, str, str | None]] = []
        for i, rec in enumerate(records):
            if rec.error is not None:
                rejects.append((i, rec, *rec.error, None))
                continue
            try:
                event = parse_event(rec.fields, source)
            except EventRejected as exc:
                ext = rec.fields.get("external_id") if rec.fields else None
                rejects.append(
                    (i, rec, exc.field, exc.reason, exc.detail, str(ext)[:128] if ext else None)
                )
                continue
            bad_field = next(
                (f for f in _FREE_TEXT_FIELDS if (v := getattr(event, f)) and find_card_number(v)),
                None,
            )
            if bad_field:
                rejects.append(
                    (
                        i,
                        rec,
                        bad_field,
                        "card_number_not_allowed",
                        f"{bad_field} holds what looks like a full card number",
                        event.external_id,
                    )
                )
                continue
            parsed.append((i, event))

        with self.engine.begin() as conn:
            self._process(conn, source, now, parsed, rejects, records, outcomes)
        return outcomes  # type: ignore[return-value]

    # -- the batch -----------------------------------------------------------------------------
    def _process(
        self,
        conn: Connection,
        source: Source,
        now: datetime,
        parsed: list[tuple[int, CardEvent]],
        rejects: list,
        records: Sequence,
        outcomes: list,
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
        stored = self._stored_results(conn, source, [e.external_id for _, e in unique])
        fresh = []
        for i, event in unique:
            if event.external_id in stored:
                outcomes[i] = stored[event.external_id]
            else:
                fresh.append((i, event))

        # 2. Cards and brands.
        cards = ctx.load_cards(conn, (e.card_id for _, e in fresh))
        index = self.catalog.current(conn)
        rows: list[_Row] = []
        for i, event in fresh:
            card = cards.get(event.card_id)
            if card is None:
                rejects.append(
                    (
                        i,
                        records[i],
                        "card_id",
                        "unknown_card",
                        f"card {event.card_id} is not enrolled",
                        event.external_id,
                    )
                )
                continue
            rows.append(_Row(i, event, card[0], index.brand_for(event)))

        # 3. What later events refer to: stored originals and in-batch ones.
        ids = allocate_ids(conn, _events, len(rows))
        for row, event_id in zip(rows, ids, strict=True):
            row.id = event_id
        linked = self._load_originals(conn, source, rows)
        open_auths = self._load_open_auths(conn, rows)

        # 4. Match purchases, apply lifecycle transitions.
        book = RewardBook(now=now)
        batch = _BatchState(self, conn, rows, index, book, linked, open_auths)
        for row in rows:
            event = row.event
            card_status = cards[event.card_id]
            if card_status[1] != "active" and (
                card_status[2] is None or event.occurred_at >= card_status[2]
            ):
                row.outcome, row.reason = "not_matched", "card_unlinked"
            elif event.kind is EventKind.AUTH:
                batch.purchase(row, cleared=False)
            elif event.kind is EventKind.CLEARING:
                auth = self._find_auth(row, linked, open_auths)
                if auth is None:
                    batch.purchase(row, cleared=True)
                else:
                    batch.clear(row, auth)
            else:
                original = linked.get(event.original_external_id or "")
                if original is None or original.card_id != event.card_id:
                    row.outcome, row.reason = "unlinked", "original_not_found"
                else:
                    batch.reverse_or_refund(row, original)
            linked[event.external_id] = _Linked(
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
            if event.kind is EventKind.AUTH:
                open_auths.setdefault(event.card_id, []).append(linked[event.external_id])

        # 5. Write everything.
        self._write_events(conn, source, now, rows)
        book.flush(conn, self.directory)
        batch.flush()
        self._write_rejects(conn, source, now, rejects, outcomes)
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
            )

    def _find_auth(
        self, row: _Row, linked: dict[str, _Linked], open_auths: dict[int, list[_Linked]]
    ) -> _Linked | None:
        event = row.event
        if event.original_external_id:
            auth = linked.get(event.original_external_id)
            if auth is not None and auth.kind == "auth" and auth.card_id == event.card_id:
                return None if auth.cleared else auth
        candidates = [a for a in open_auths.get(event.card_id, ()) if not a.cleared]
        if not candidates:
            return None
        found = link_clearing_to_auth(
            event,
            row.merchant_id,
            [
                OpenAuth(str(a.id), a.card_id, a.merchant_id, a.amount, a.currency, a.occurred_at)
                for a in candidates
            ],
            tolerance_bps=self.link_tolerance_bps,
            window_days=self.link_window_days,
        )
        if found is None:
            return None
        return next(a for a in candidates if str(a.id) == found.external_id)

    # -- reads ---------------------------------------------------------------------------------
    def _stored_results(
        self, conn: Connection, source: Source, external_ids: list[str]
    ) -> dict[str, IngestOutcome]:
        rw = _rewards
        out = {}
        for chunk in ctx._chunks(external_ids):
            for ext, eid, outcome, reason, reward_amount in conn.execute(
                select(
                    _events.c.external_id,
                    _events.c.id,
                    _events.c.outcome,
                    _events.c.reason,
                    rw.c.reward_amount,
                )
                .select_from(_events.outerjoin(rw, rw.c.id == _events.c.reward_id))
                .where(_events.c.source == source.value, one_of(conn, _events.c.external_id, chunk))
            ):
                out[ext] = IngestOutcome(
                    "duplicate",
                    ext,
                    eid,
                    outcome,
                    reason,
                    reward_amount or 0 if outcome == "rewarded" else 0,
                )
        return out

    def _load_originals(
        self, conn: Connection, source: Source, rows: list[_Row]
    ) -> dict[str, _Linked]:
        wanted = sorted(
            {r.event.original_external_id for r in rows if r.event.original_external_id}
        )
        out: dict[str, _Linked] = {}
        for chunk in ctx._chunks(wanted):
            for r in conn.execute(
                select(_events).where(
                    _events.c.source == source.value, one_of(conn, _events.c.external_id, chunk)
                )
            ):
                out[r.external_id] = self._linked_from_row(r)
        if out:
            self._mark_cleared(conn, out.values())
        return out

    def _load_open_auths(self, conn: Connection, rows: list[_Row]) -> dict[int, list[_Linked]]:
        """Recent auths of cards whose clearings carry no usable link, for fuzzy linking."""
        cards = sorted(
            {
                r.event.card_id
                for r in rows
                if r.event.kind is EventKind.CLEARING and not r.event.original_external_id
            }
        )
        out: dict[int, list[_Linked]] = {}
        if not cards:
            return out
        since = min(r.event.occurred_at for r in rows) - timedelta(days=self.link_window_days)
        found: list[_Linked] = []
        for chunk in ctx._chunks(cards):
            for r in conn.execute(
                select(_events).where(
                    one_of(conn, _events.c.card_id, chunk),
                    _events.c.kind == "auth",
                    _events.c.occurred_at >= since,
                )
            ):
                found.append(self._linked_from_row(r))
        self._mark_cleared(conn, found)
        for a in found:
            out.setdefault(a.card_id, []).append(a)
        return out

    @staticmethod
    def _linked_from_row(r) -> _Linked:
        return _Linked(
            r.id,
            r.kind,
            r.card_id,
            r.merchant_id,
            r.amount,
            r.currency,
            aware(r.occurred_at),
            r.reward_id,
            r.outcome,
            r.reason,
        )

    @staticmethod
    def _mark_cleared(conn: Connection, auths: Iterable[_Linked]) -> None:
        by_id = {a.id: a for a in auths if a.kind == "auth"}
        ids = sorted(by_id)
        for chunk in ctx._chunks(ids):
            for auth_id in conn.execute(
                select(_events.c.linked_event_id).where(
                    and_(
                        one_of(conn, _events.c.linked_event_id, chunk), _events.c.kind == "clearing"
                    )
                )
            ).scalars():
                by_id[auth_id].cleared = True

    # -- writes --------------------------------------------------------------------------------
    def _write_events(
        self, conn: Connection, source: Source, now: datetime, rows: list[_Row]
    ) -> None:
        insert_rows(
            conn,
            _events,
            [
                {
                    "id": r.id,
                    "source": source.value,
                    "external_id": r.event.external_id,
                    "kind": r.event.kind.value,
                    "card_id": r.event.card_id,
                    "member_id": r.member_id,
                    "merchant_id": r.merchant_id,
                    "amount": r.event.amount,
                    "currency": r.event.currency,
                    "occurred_at": r.event.occurred_at,
                    "mid": r.event.mid,
                    "descriptor": r.event.descriptor,
                    "merchant_name": r.event.merchant_name,
                    "mcc": r.event.mcc,
                    "channel": r.event.channel.value,
                    "original_external_id": r.event.original_external_id,
                    "linked_event_id": r.linked_event_id,
                    "outcome": r.outcome,
                    "reason": r.reason,
                    "reward_id": r.reward_id,
                    "decisions_json": json.dumps(r.decisions, separators=(",", ":")),
                    "ingested_at": now,
                }
                for r in rows
            ],
        )

    def _write_rejects(
        self, conn: Connection, source: Source, now: datetime, rejects: list, outcomes: list
    ) -> None:
        if not rejects:
            return
        insert = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
        values = []
        for i, rec, field_name, reason, detail, ext in rejects:
            raw = rec.raw_text if rec.raw_text else json.dumps(rec.fields, default=str)
            masked = mask_card_numbers(raw)[:4000]
            values.append(
                {
                    "source": source.value,
                    "external_id": ext,
                    "field": field_name,
                    "reason": reason,
                    "detail": mask_card_numbers(detail)[:500],
                    "raw_sha256": hashlib.sha256(raw.encode()).hexdigest(),
                    "raw_redacted": masked,
                    "received_at": now,
                }
            )
            outcomes[i] = IngestOutcome(
                "rejected", ext, None, None, reason, 0, field_name, getattr(rec, "line", 0)
            )
        conn.execute(
            insert(_rejected).on_conflict_do_nothing(index_elements=["source", "raw_sha256"]),
            values,
        )


class _BatchState:
    """Member, offer and budget state for one batch, kept current as events are applied."""

    def __init__(
        self,
        pipeline: IngestPipeline,
        conn: Connection,
        rows: list[_Row],
        index,
        book: RewardBook,
        linked: dict[str, _Linked],
        open_auths: dict[int, list[_Linked]],
    ) -> None:
        self.pipeline = pipeline
        self.conn = conn
        self.index = index
        self.book = book
        self.candidates: dict[int, tuple[OfferRules, ...]] = {}
        offer_ids: set[int] = set()
        members: set[int] = set()
        brand_pairs: set[tuple[int, int]] = set()
        pairs: set[tuple[int, int]] = set()
        for r in rows:
            if r.event.kind in (EventKind.AUTH, EventKind.CLEARING):
                found = index.candidates(r.event)
                self.candidates[r.id] = found
                if found:
                    offer_ids.update(o.offer_id for o in found)
                    members.add(r.member_id)
                    pairs.update((r.member_id, o.offer_id) for o in found)
                if r.merchant_id is not None:
                    brand_pairs.add((r.member_id, r.merchant_id))
        # Every stored reward a later event of this batch may touch, read in one go, so no
        # event costs a query of its own.
        reward_ids = {a.reward_id for a in linked.values() if a.reward_id is not None}
        reward_ids.update(
            a.reward_id for auths in open_auths.values() for a in auths if a.reward_id is not None
        )
        self.rewards: dict[int, RewardRecord] = book.load(conn, reward_ids)
        for record in self.rewards.values():
            offer_ids.add(record.offer_id)
            members.add(record.member_id)
            pairs.add((record.member_id, record.offer_id))
        self.reward_ids: list[int] = []
        self.members = ctx.load_members(conn, members)
        self.activations = ctx.load_activations(conn, members, offer_ids)
        self.history = ctx.load_brand_history(conn, brand_pairs)
        self.states = ctx.load_offer_states(conn, pairs)
        # Pairs read above and found absent have empty counters: no need to ask again.
        self.known_pairs = pairs
        self.remaining: dict[int, Remaining] = lock_remaining(conn, offer_ids)
        self.budget_left = {k: v.amount for k, v in self.remaining.items() if v.amount is not None}
        self.redemptions_left = {
            k: v.redemptions for k, v in self.remaining.items() if v.redemptions is not None
        }
        self.budget_deltas: dict[int, list[int]] = defaultdict(lambda: [0, 0])
        self.state_deltas: dict[tuple[int, int], list[int]] = {}
        self.purchases: dict[tuple[int, int], tuple[datetime, datetime, int]] = {}

    # -- purchases -----------------------------------------------------------------------------
    def purchase(self, row: _Row, *, cleared: bool) -> None:
        event = row.event
        candidates = self.candidates.get(row.id, ())
        last_purchase_at = self._last_purchase_before(row)
        if row.merchant_id is not None:
            self._record_purchase(row.member_id, row.merchant_id, event.occurred_at)
        if not candidates:
            row.outcome, row.reason = "no_offer", None
            return
        member = self.members.get(row.member_id, (0, None))
        result = match(
            event,
            candidates,
            MatchContext(
                member_id=row.member_id,
                member_tier=member[0],
                birth_month=member[1],
                activations=self.activations.get(row.member_id, {}),
                last_brand_purchase_at=last_purchase_at,
                offer_states=self.states.get(row.member_id, {}),
                budget_remaining=self.budget_left,
                redemptions_remaining=self.redemptions_left,
            ),
        )
        row.decisions = [[d.offer_id, d.reason.value, d.reward_amount] for d in result.decisions]
        for d in result.decisions:
            if d.stamp_counted or d.threshold_spend_counted:
                self._count(
                    row.member_id,
                    d.offer_id,
                    stamps=int(d.stamp_counted),
                    spend=d.threshold_spend_counted,
                    paid=d.qualified and d.threshold_spend_counted > 0,
                )
        winner = result.winner
        if winner is None:
            row.outcome = "no_reward"
            row.reason = _explain(result.decisions)
            return
        offer = next(o for o in candidates if o.offer_id == winner.offer_id)
        reward_id = self._next_reward_id()
        record = RewardRecord(
            id=reward_id,
            member_id=row.member_id,
            offer_id=offer.offer_id,
            merchant_id=offer.merchant_id,
            currency=offer.currency,
            state=RewardState.CLEARED if cleared else RewardState.AUTHORIZED,
            auth_event_id=None,
            clearing_event_id=None,
            spend_amount=event.amount,
            reward_amount=winner.reward_amount,
            commission_amount=winner.commission_amount,
            occurred_at=event.occurred_at,
            hold_days=offer.hold_days,
        )
        self.book.open(record, event_id=row.id, auth_expiry_days=self.pipeline.auth_expiry_days)
        self.rewards[reward_id] = record
        self._reserve(offer.offer_id, winner.reward_amount, 1)
        self._count(row.member_id, offer.offer_id, rewards=1, amount=winner.reward_amount)
        row.outcome, row.reward_id, row.reward_amount = "rewarded", reward_id, winner.reward_amount

    def clear(self, row: _Row, auth: _Linked) -> None:
        auth.cleared = True
        row.linked_event_id = auth.id
        if auth.reward_id is None:
            row.outcome, row.reason = "no_reward", auth.reason or auth.outcome
            return
        record = self._reward(auth.reward_id)
        if record.state is not RewardState.AUTHORIZED:
            row.outcome, row.reason, row.reward_id = (
                "no_reward",
                f"reward_{record.state}",
                record.id,
            )
            return
        offer = self.pipeline.catalog.rules_for(self.conn, record.offer_id)
        event = row.event
        new_reward = record.reward_amount
        if offer is not None and offer.kind is OfferKind.CASHBACK:
            member = self.members.get(row.member_id) or ctx.load_members(
                self.conn, [row.member_id]
            ).get(row.member_id, (0, None))
            new_reward = reward_for_amount(offer, event.amount, record.occurred_at, member[1])
            if offer.member_max_reward_amount is not None:
                state = self._state(row.member_id, offer.offer_id)
                room = offer.member_max_reward_amount - state.reward_amount + record.reward_amount
                new_reward = min(new_reward, max(room, 0))
        increase = new_reward - record.reward_amount
        if increase > 0 and record.offer_id in self.budget_left:
            new_reward -= increase - min(increase, self.budget_left[record.offer_id])
        commission = (
            commission_for(offer, event.amount, new_reward)
            if offer is not None
            else record.commission_amount
        )
        delta = self.book.clear(
            record,
            event_id=row.id,
            cleared_spend_amount=event.amount,
            reward_amount=new_reward,
            commission_amount=commission,
            at=event.occurred_at,
        )
        self._reserve(record.offer_id, delta, 0)
        self._count(row.member_id, record.offer_id, amount=delta)
        row.outcome, row.reward_id, row.reward_amount = "rewarded", record.id, new_reward

    def reverse_or_refund(self, row: _Row, original: _Linked) -> None:
        event = row.event
        row.linked_event_id = original.id
        if original.reward_id is None:
            row.outcome, row.reason = "no_reward", "original_not_rewarded"
            return
        record = self._reward(original.reward_id)
        row.reward_id = record.id
        if event.kind is EventKind.REVERSAL and record.state is RewardState.AUTHORIZED:
            released = self.book.void(record, reason="reversed")
            self._reserve(record.offer_id, -released, -1)
            self._count(record.member_id, record.offer_id, rewards=-1, amount=-released)
            row.outcome = "voided"
            return
        # A refund, or a reversal of a cleared purchase (a full refund).
        amount = event.amount if event.kind is EventKind.REFUND else record.spend_amount
        before = record.reward_amount
        claw = self.book.refund(
            self.conn, record, refund_amount=amount, event_id=row.id, at=event.occurred_at
        )
        clawed = claw.reward_amount if record.state is not RewardState.VOIDED else before
        self._reserve(record.offer_id, -clawed, 0)
        self._count(record.member_id, record.offer_id, amount=-clawed)
        row.outcome, row.reward_amount = "clawback", -clawed

    # -- state -----------------------------------------------------------------------------
    def _next_reward_id(self) -> int:
        if not self.reward_ids:
            # A block at a time; unused ids are gaps, which is harmless.
            self.reward_ids = allocate_ids(self.conn, _rewards, 1000)[::-1]
        return self.reward_ids.pop()

    def _reward(self, reward_id: int) -> RewardRecord:
        if reward_id not in self.rewards:
            self.rewards.update(self.book.load(self.conn, {reward_id}))
        return self.rewards[reward_id]

    def _state(self, member_id: int, offer_id: int) -> OfferState:
        by_offer = self.states.setdefault(member_id, {})
        if offer_id not in by_offer and (member_id, offer_id) in self.known_pairs:
            by_offer[offer_id] = OfferState()
        elif offer_id not in by_offer:
            loaded = ctx.load_offer_states(self.conn, {(member_id, offer_id)})
            by_offer[offer_id] = loaded.get(member_id, {}).get(offer_id, OfferState())
        return by_offer[offer_id]

    def _count(
        self,
        member_id: int,
        offer_id: int,
        *,
        rewards: int = 0,
        amount: int = 0,
        stamps: int = 0,
        spend: int = 0,
        paid: bool = False,
    ) -> None:
        s = self._state(member_id, offer_id)
        self.states[member_id][offer_id] = OfferState(
            reward_count=s.reward_count + rewards,
            reward_amount=s.reward_amount + amount,
            stamp_count=s.stamp_count + stamps,
            threshold_spend_amount=s.threshold_spend_amount + spend,
            threshold_paid=s.threshold_paid or paid,
        )
        d = self.state_deltas.setdefault((member_id, offer_id), [0, 0, 0, 0, 0])
        d[0] += rewards
        d[1] += amount
        d[2] += stamps
        d[3] += spend
        d[4] = d[4] or int(paid)

    def _reserve(self, offer_id: int, amount: int, redemptions: int) -> None:
        if not amount and not redemptions:
            return
        if offer_id in self.budget_left:
            self.budget_left[offer_id] -= amount
        if offer_id in self.redemptions_left:
            self.redemptions_left[offer_id] -= redemptions
        d = self.budget_deltas[offer_id]
        d[0] += amount
        d[1] += redemptions

    def _record_purchase(self, member_id: int, merchant_id: int, at: datetime) -> None:
        key = (member_id, merchant_id)
        prior = self.purchases.get(key)
        self.purchases[key] = (
            (at, at, 1) if prior is None else (min(prior[0], at), max(prior[1], at), prior[2] + 1)
        )

    def _last_purchase_before(self, row: _Row) -> datetime | None:
        if row.merchant_id is None:
            return None
        at = row.event.occurred_at
        best = None
        for first, last in (
            self.history.get((row.member_id, row.merchant_id), (None, None)),
            self._batch_purchase_span(row),
        ):
            if first is None:
                continue
            # Only first and last are stored: the latest of them strictly before this event.
            for t in (last, first):
                if t < at and (best is None or t > best):
                    best = t
                    break
        return best

    def _batch_purchase_span(self, row: _Row) -> tuple[datetime | None, datetime | None]:
        prior = self.purchases.get((row.member_id, row.merchant_id))
        return (None, None) if prior is None else (prior[0], prior[1])

    def flush(self) -> None:
        apply_reservations(self.conn, {k: (v[0], v[1]) for k, v in self.budget_deltas.items()})
        ctx.add_offer_state_deltas(self.conn, self.state_deltas)
        ctx.add_brand_purchases(self.conn, self.purchases)


def _explain(decisions) -> str | None:
    """The most telling reason when nothing qualified."""
    if not decisions:
        return None
    reasons = [d.reason for d in decisions]
    for preferred in (Reason.HOLDOUT, Reason.STAMP_PROGRESS, Reason.THRESHOLD_PROGRESS):
        if preferred in reasons:
            return preferred.value
    return reasons[0].value
