"""What the events of a batch refer to: stored results, originals, open auths, waiting events.

A clearing, refund or reversal names the event it follows (`original_external_id`); a clearing
without that link is matched to an open auth of the same card by `matching.linking`. Events
can also arrive before what they follow: a refund or reversal whose original is not stored yet
is kept `unlinked` and applied when its original arrives, and an auth whose clearing came
first is already paid by that clearing.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from functools import cache
from typing import Any

from sqlalchemy import Connection, Select, and_, bindparam, or_, select, update

from matching.events import CardEvent, Channel, EventKind, Source
from matching.linking import OpenAuth, link_clearing_to_auth
from service.feeds import context as ctx
from service.feeds.batch import Linked, Row
from service.offers.catalog import aware
from service.tables import CardEventRow
from settlement.ledger.bulk import KEYS, by_keys, execute_many, keys_param
from settlement.tables import Reward

_events = CardEventRow.__table__
_rewards = Reward.__table__
DUPLICATE_PRESENTMENT = "duplicate_presentment"
UNLINKED = "unlinked"


@dataclass(frozen=True, slots=True)
class StoredResult:
    """The first result of an event already stored, reported again for a duplicate."""

    event_id: int
    outcome: str
    reason: str | None
    reward_amount: int


# The statements of the reads below, built once per dialect (`by_keys` says why).
@cache
def _stored_results_query(dialect: str) -> Select[Any]:
    rw = _rewards
    return by_keys(
        dialect,
        select(
            _events.c.external_id,
            _events.c.id,
            _events.c.outcome,
            _events.c.reason,
            rw.c.reward_amount,
        )
        .select_from(_events.outerjoin(rw, rw.c.id == _events.c.reward_id))
        .where(_events.c.source == bindparam("source")),
        _events.c.external_id,
    )


# What `Linked` holds, and no more: an auth's whole row (descriptor, decisions) is several
# times its size, and a card's auths in the link window are read for each of its clearings.
_LINKED_COLUMNS = tuple(
    _events.c[name]
    for name in (
        "id", "external_id", "kind", "card_id", "merchant_id", "amount", "currency",
        "occurred_at", "reward_id", "outcome", "reason",
    )
)  # fmt: skip


@cache
def _events_by_external_id_query(dialect: str) -> Select[Any]:
    return by_keys(
        dialect,
        select(*_LINKED_COLUMNS).where(_events.c.source == bindparam("source")),
        _events.c.external_id,
    )


@cache
def _auths_by_card_query(dialect: str) -> Select[Any]:
    return by_keys(
        dialect,
        select(*_LINKED_COLUMNS).where(
            _events.c.kind == EventKind.AUTH.value, _events.c.occurred_at >= bindparam("since")
        ),
        _events.c.card_id,
    )


@cache
def _clearings_by_linked_query(dialect: str) -> Select[Any]:
    query = by_keys(
        dialect,
        select(_events.c.linked_event_id, _events.c.amount, _events.c.id).where(
            and_(
                _events.c.kind == EventKind.CLEARING.value,
                or_(_events.c.reason.is_(None), _events.c.reason != DUPLICATE_PRESENTMENT),
            )
        ),
        _events.c.linked_event_id,
    )
    return query.order_by(query.selected_columns.id)


@cache
def _waiting_query(dialect: str) -> Select[Any]:
    query = by_keys(
        dialect,
        select(_events).where(
            _events.c.source == bindparam("source"),
            or_(_events.c.kind == EventKind.CLEARING.value, _events.c.outcome == UNLINKED),
            # The terms of the partial index `ix_card_event_waiting`, so both planners use it.
            _events.c.linked_event_id.is_(None),
            _events.c.original_external_id.is_not(None),
        ),
        _events.c.original_external_id,
    )
    return query.order_by(query.selected_columns.id)


def stored_results(
    conn: Connection, source: Source, external_ids: list[str]
) -> dict[str, StoredResult]:
    out = {}
    query = _stored_results_query(conn.dialect.name)
    for chunk in ctx._chunks(external_ids):
        for ext, eid, outcome, reason, reward_amount in conn.execute(
            query, {KEYS: keys_param(conn, chunk), "source": source.value}
        ):
            paid = (reward_amount or 0) if outcome == "rewarded" else 0
            out[ext] = StoredResult(eid, outcome, reason, paid)
    return out


def load_originals(conn: Connection, source: Source, rows: Sequence[Row]) -> dict[str, Linked]:
    """Stored events that events of the batch name as their original."""
    wanted = sorted({r.event.original_external_id for r in rows if r.event.original_external_id})
    out: dict[str, Linked] = {}
    for chunk in ctx._chunks(wanted):
        for r in conn.execute(
            _events_by_external_id_query(conn.dialect.name),
            {KEYS: keys_param(conn, chunk), "source": source.value},
        ):
            out[r.external_id] = linked_from_row(r)
    add_clearings(conn, out.values())
    return out


def load_open_auths(
    conn: Connection, rows: Sequence[Row], window_days: int
) -> dict[int, list[Linked]]:
    """Recent auths of cards whose clearings carry no usable link, for fuzzy linking."""
    cards = sorted(
        {
            r.event.card_id
            for r in rows
            if r.event.kind is EventKind.CLEARING and not r.event.original_external_id
        }
    )
    out: dict[int, list[Linked]] = {}
    if not cards:
        return out
    since = min(r.event.occurred_at for r in rows) - timedelta(days=window_days)
    found: list[Linked] = []
    for chunk in ctx._chunks(cards):
        for r in conn.execute(
            _auths_by_card_query(conn.dialect.name), {KEYS: keys_param(conn, chunk), "since": since}
        ):
            found.append(linked_from_row(r))
    add_clearings(conn, found)
    for a in found:
        out.setdefault(a.card_id, []).append(a)
    return out


def find_auth(
    row: Row,
    linked: dict[str, Linked],
    open_auths: dict[int, list[Linked]],
    *,
    tolerance_bps: int,
    window_days: int,
) -> Linked | None:
    """The auth a clearing settles: the one it names (cleared or not), else an open one."""
    event = row.event
    if event.original_external_id:
        auth = linked.get(event.original_external_id)
        if auth is not None and auth.kind == EventKind.AUTH.value and auth.card_id == event.card_id:
            return auth
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
        tolerance_bps=tolerance_bps,
        window_days=window_days,
    )
    if found is None:
        return None
    return next(a for a in candidates if str(a.id) == found.external_id)


def linked_from_row(r) -> Linked:
    return Linked(
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


def add_clearings(conn: Connection, events: Iterable[Linked], *, kind: str = "auth") -> None:
    """Fill in the clearings already stored for each auth (duplicate presentments aside); for
    an early clearing (`kind="clearing"`), the later clearings linked to it."""
    by_id = {a.id: a for a in events if a.kind == kind}
    for chunk in ctx._chunks(sorted(by_id)):
        for auth_id, amount, _ in conn.execute(
            _clearings_by_linked_query(conn.dialect.name), {KEYS: keys_param(conn, chunk)}
        ):
            by_id[auth_id].clearing_amounts.append(amount)


@dataclass
class Waiting:
    """Events that arrived before the event they name, by that event's external id."""

    # A clearing whose auth was not stored yet is priced as the purchase; it stands for that
    # auth until the auth arrives (paid already) and for later clearings that name it.
    early_clearings: dict[str, Linked] = field(default_factory=dict)
    undoers: dict[str, list[Row]] = field(default_factory=dict)  # refunds and reversals
    stored_rows: list[Row] = field(default_factory=list)  # stored ones, to update if applied

    def add_undoer(self, row: Row) -> None:
        assert row.event.original_external_id is not None
        self.undoers.setdefault(row.event.original_external_id, []).append(row)

    def add_early_clearing(self, original_external_id: str, clearing: Linked) -> None:
        if not clearing.clearing_amounts:
            clearing.clearing_amounts.append(clearing.amount)
        self.early_clearings.setdefault(original_external_id, clearing)

    def take_undoers(self, external_id: str, card_id: int) -> list[Row]:
        rows = self.undoers.pop(external_id, None) if self.undoers else None
        if not rows:
            return []  # nearly every event: nothing was waiting for it
        return sorted(
            (r for r in rows if r.event.card_id == card_id), key=lambda r: r.event.occurred_at
        )


def load_waiting(conn: Connection, source: Source, rows: Sequence[Row]) -> Waiting:
    """Stored events that name an event of this batch, or the original an event of this batch
    names, which was not stored when they came: clearings priced as purchases of their own,
    and refunds or reversals left unlinked."""
    waiting = Waiting()
    wanted = sorted(
        {r.event.external_id for r in rows if r.event.kind in (EventKind.AUTH, EventKind.CLEARING)}
        | {r.event.original_external_id for r in rows if r.event.original_external_id}
    )
    early: list[Linked] = []
    for chunk in ctx._chunks(wanted):
        for r in conn.execute(
            _waiting_query(conn.dialect.name),
            {KEYS: keys_param(conn, chunk), "source": source.value},
        ):
            if r.kind == EventKind.CLEARING.value:
                clearing = linked_from_row(r)
                early.append(clearing)
                waiting.early_clearings.setdefault(r.original_external_id, clearing)
                continue
            row = Row(-1, event_from_row(r, source), r.member_id, r.merchant_id, id=r.id)
            row.outcome, row.reason = r.outcome, r.reason
            waiting.add_undoer(row)
            waiting.stored_rows.append(row)
    add_clearings(conn, early, kind=EventKind.CLEARING.value)
    for clearing in early:
        clearing.clearing_amounts.insert(0, clearing.amount)
    return waiting


def event_from_row(r, source: Source) -> CardEvent:
    return CardEvent(
        source=source,
        external_id=r.external_id,
        kind=EventKind(r.kind),
        card_id=r.card_id,
        amount=r.amount,
        currency=r.currency,
        occurred_at=aware(r.occurred_at),
        mid=r.mid,
        acquirer_id=r.acquirer_id,
        descriptor=r.descriptor,
        merchant_name=r.merchant_name,
        mcc=r.mcc,
        country=r.country,
        postal_code=r.postal_code,
        brand_hint=r.brand_hint,
        channel=Channel(r.channel),
        original_external_id=r.original_external_id,
    )


def update_waited_rows(conn: Connection, rows: Sequence[Row]) -> None:
    """Stored events applied now that their original arrived: their new result."""
    changed = [r for r in rows if r.outcome != UNLINKED]
    if not changed:
        return
    execute_many(
        conn,
        update(_events)
        .where(_events.c.id == bindparam("e_id"))
        .values(
            outcome=bindparam("e_outcome"),
            reason=bindparam("e_reason"),
            linked_event_id=bindparam("e_linked"),
            reward_id=bindparam("e_reward"),
        ),
        [
            {
                "e_id": r.id,
                "e_outcome": r.outcome,
                "e_reason": r.reason,
                "e_linked": r.linked_event_id,
                "e_reward": r.reward_id,
            }
            for r in changed
        ],
    )
