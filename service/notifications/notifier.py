"""The notifier: reads the outbox in id order and turns what a member cares about into
notifications (in-app) and deliveries (email, push), in one transaction with its cursor.

A chunk's notifications, deliveries and the cursor commit together, so a crash mid-chunk
leaves nothing behind and the chunk is read again; unique keys (member, source) and
(notification, channel) make a second reading insert nothing, so nothing is told twice and
nothing is skipped. Sending happens after the commit (`service.notifications.dispatch`).

Ids commit out of order on PostgreSQL (two feed transactions take ids 10 and 11; 11 commits
first), so the cursor only moves over ids without a gap; a gap is waited for up to
`gap_wait` (a rolled-back transaction leaves one for ever) while the rows past it are
handled at once and remembered, so they cost no latency and are not handled again.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, Row, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from service.notifications.messages import Kind
from service.notifications.preferences import Choices, choices_of
from service.notifications.tables import Notification, NotificationDelivery, NotifierCursor
from service.tables import Merchant
from settlement.outbox import OutboxEvent, OutboxEventType

CONSUMER = "member_notifications"
DEFAULT_GAP_WAIT = timedelta(seconds=30)

_outbox = OutboxEvent.__table__
_cursor = NotifierCursor.__table__
_notifications = Notification.__table__
_deliveries = NotificationDelivery.__table__
_merchants = Merchant.__table__

# What members are told, by outbox type. Cashback earned is told once per reward: its
# first pending or posted row (a later re-pricing or the clearing tells nothing new).
_KIND_OF_TYPE = {
    OutboxEventType.REWARD_PENDING.value: Kind.CASHBACK_EARNED,
    OutboxEventType.REWARD_POSTED.value: Kind.CASHBACK_EARNED,
    OutboxEventType.REWARD_AVAILABLE.value: Kind.CASHBACK_AVAILABLE,
    OutboxEventType.PAYOUT_PAID.value: Kind.PAYOUT_PAID,
}


@dataclass(frozen=True, slots=True)
class NewNotification:
    """A notification to make, before it has an id."""

    member_id: int
    kind: Kind
    source_key: str
    created_at: datetime
    outbox_id: int | None = None
    merchant_id: int | None = None
    offer_id: int | None = None
    reward_id: int | None = None
    amount_minor: int | None = None
    currency: str | None = None
    facts: dict[str, str] = field(default_factory=dict)


@dataclass
class ConsumeResult:
    read_count: int = 0
    notified_count: int = 0
    cursor: int = 0


def _insert(conn: Connection, table: Any) -> Any:
    return (pg_insert if conn.dialect.name == "postgresql" else sqlite_insert)(table)


def record_notifications(conn: Connection, wanted: Sequence[NewNotification], now: datetime) -> int:
    """Insert what is not there yet, with a pending delivery per channel the member chose
    (due at once, or when the member's quiet hours end). Returns how many were new."""
    choices = choices_of(conn, {n.member_id for n in wanted})
    rows = []
    seen: set[tuple[int, str]] = set()
    for n in wanted:
        choice = choices.get(n.member_id)
        key = (n.member_id, n.source_key)
        if choice is None or key in seen or not (choice.in_app or choice.email or choice.push):
            continue
        seen.add(key)
        rows.append(
            {
                "member_id": n.member_id,
                "kind": n.kind.value,
                "source_key": n.source_key,
                "outbox_id": n.outbox_id,
                "merchant_id": n.merchant_id,
                "offer_id": n.offer_id,
                "reward_id": n.reward_id,
                "amount_minor": n.amount_minor,
                "currency": n.currency,
                "data": json.dumps(n.facts, sort_keys=True) if n.facts else None,
                "in_app": choice.in_app,
                "created_at": n.created_at,
            }
        )
    if not rows:
        return 0
    inserted = conn.execute(
        _insert(conn, _notifications)
        .on_conflict_do_nothing(index_elements=["member_id", "source_key"])
        .returning(_notifications.c.id, _notifications.c.member_id),
        rows,
    ).all()
    deliveries = [
        {
            "notification_id": notification_id,
            "member_id": member_id,
            "channel": channel,
            "status": "pending",
            "due_at": choices[member_id].held_until(now),
            "attempts": 0,
        }
        for notification_id, member_id in inserted
        for channel in _channels(choices[member_id])
    ]
    if deliveries:
        conn.execute(_deliveries.insert(), deliveries)
    return len(inserted)


def _channels(choice: Choices) -> Iterable[str]:
    if choice.email:
        yield "email"
    if choice.push:
        yield "push"


def _wanted(conn: Connection, rows: Sequence[Row[Any]], now: datetime) -> list[NewNotification]:
    merchant_ids = {r.merchant_id for r in rows if r.merchant_id is not None}
    names = dict(
        conn.execute(
            select(_merchants.c.id, _merchants.c.brand_name).where(
                _merchants.c.id.in_(sorted(merchant_ids))
            )
        ).all()
        if merchant_ids
        else []
    )
    out = []
    for r in rows:
        kind = _KIND_OF_TYPE.get(r.type)
        if kind is None or r.member_id is None:
            continue
        if kind is Kind.CASHBACK_EARNED:
            if not r.amount_minor or r.reward_id is None:
                continue
            source_key = f"reward:{r.reward_id}:earned"
        else:
            source_key = f"outbox:{r.id}"
        facts = {"merchant": names[r.merchant_id]} if r.merchant_id in names else {}
        out.append(
            NewNotification(
                member_id=r.member_id,
                kind=kind,
                source_key=source_key,
                created_at=now,
                outbox_id=r.id,
                merchant_id=r.merchant_id,
                offer_id=r.offer_id,
                reward_id=r.reward_id,
                amount_minor=r.amount_minor,
                currency=r.currency,
                facts=facts,
            )
        )
    return out


@dataclass
class OutboxConsumer:
    """Reads the outbox past its cursor, a chunk per transaction (see the module's note)."""

    engine: Engine
    chunk_events: int = 1000
    gap_wait: timedelta = DEFAULT_GAP_WAIT
    # Gaps seen (the missing id -> when first seen) and ids past the cursor already handled.
    gaps: dict[int, datetime] = field(default_factory=dict)
    handled_past_cursor: set[int] = field(default_factory=set)

    def consume(self, now: datetime) -> ConsumeResult:
        """One chunk; call again while `read_count` is the chunk size."""
        with self.engine.begin() as conn:
            cursor = self._cursor(conn, now)
            read_from = max(self.handled_past_cursor, default=cursor)
            # Rows that filled a gap behind what was already handled past the cursor.
            late = (
                [
                    r
                    for r in conn.execute(
                        select(_outbox)
                        .where(_outbox.c.id > cursor, _outbox.c.id <= read_from)
                        .order_by(_outbox.c.id)
                    )
                    if r.id not in self.handled_past_cursor
                ]
                if read_from > cursor
                else []
            )
            new = conn.execute(
                select(_outbox)
                .where(_outbox.c.id > read_from)
                .order_by(_outbox.c.id)
                .limit(self.chunk_events)
            ).all()
            fresh = [*late, *new]
            notified = record_notifications(conn, _wanted(conn, fresh, now), now)
            seen = sorted(self.handled_past_cursor.union(r.id for r in fresh))
            new_cursor = self._advance(cursor, seen, now)
            if new_cursor != cursor:
                conn.execute(
                    update(_cursor)
                    .where(_cursor.c.consumer == CONSUMER)
                    .values(last_outbox_id=new_cursor, updated_at=now)
                )
        # Remembered only once committed: a rolled-back chunk is handled again.
        self.handled_past_cursor = {i for i in seen if i > new_cursor}
        return ConsumeResult(len(new), notified, new_cursor)

    def skip_to(self, outbox_id: int, now: datetime) -> int:
        """Move the cursor forward to `outbox_id` without telling anyone (a demo's replayed
        history); returns how many ids were skipped."""
        with self.engine.begin() as conn:
            cursor = self._cursor(conn, now)
            if outbox_id <= cursor:
                return 0
            conn.execute(
                update(_cursor)
                .where(_cursor.c.consumer == CONSUMER)
                .values(last_outbox_id=outbox_id, updated_at=now)
            )
        return outbox_id - cursor

    def _cursor(self, conn: Connection, now: datetime) -> int:
        query = select(_cursor.c.last_outbox_id).where(_cursor.c.consumer == CONSUMER)
        if conn.dialect.name == "postgresql":
            # One notifier at a time: a second process waits here rather than racing.
            query = query.with_for_update()
        found = conn.execute(query).scalar_one_or_none()
        if found is None:
            conn.execute(
                _insert(conn, _cursor)
                .on_conflict_do_nothing(index_elements=["consumer"])
                .values(consumer=CONSUMER, last_outbox_id=0, updated_at=now)
            )
            found = conn.execute(query).scalar_one()
        return int(found)

    def _advance(self, cursor: int, seen_ids: Sequence[int], now: datetime) -> int:
        """The highest id up to which every id has been seen, or its gap waited out."""
        for outbox_id in seen_ids:
            if outbox_id <= cursor:
                continue
            if outbox_id > cursor + 1:
                first_seen = self.gaps.setdefault(cursor + 1, now)
                if now - first_seen < self.gap_wait:
                    break
            cursor = outbox_id
        self.gaps = {start: t for start, t in self.gaps.items() if start > cursor}
        return cursor
