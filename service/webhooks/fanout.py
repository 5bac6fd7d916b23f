"""Fan-out: outbox events after the cursor become deliveries, one per matching endpoint.

Each delivery gets the next sequence number of its endpoint, so an endpoint's queue is the
outbox order filtered by what it may and wants to see. The cursor, the deliveries and the
endpoints' sequence counters move in one transaction: a crash repeats a batch whole or not
at all.

PostgreSQL hands out ids before commit, so a transaction holding a lower id can commit after
one holding a higher id has been read. The fan-out stops at a hole in the ids and waits up
to `gap_grace_s` for it to fill (a rolled-back transaction leaves a hole forever); SQLite
has one writer at a time, so its ids are committed in order.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, bindparam, insert, select, update

from service.tables import Member
from service.webhooks.scope import event_types_of, visible_to, wants
from service.webhooks.tables import (
    PARTNERS_CURSOR,
    PENDING,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookFanoutCursor,
    aware,
)
from settlement.ledger.bulk import one_of
from settlement.outbox import OutboxEvent

FANOUT_BATCH_EVENTS = 2000
GAP_GRACE_S = 60.0

_outbox = OutboxEvent.__table__
_cursor = WebhookFanoutCursor.__table__
_endpoints = WebhookEndpoint.__table__
_deliveries = WebhookDelivery.__table__
_members = Member.__table__


@dataclass(slots=True)
class FanoutResult:
    events: int = 0
    deliveries: int = 0
    last_outbox_id: int = 0


def _locked_cursor(conn: Connection, now: datetime) -> Any:
    query = select(_cursor).where(_cursor.c.name == PARTNERS_CURSOR).with_for_update()
    row = conn.execute(query).first()
    if row is None:
        conn.execute(insert(_cursor).values(name=PARTNERS_CURSOR, last_outbox_id=0, updated_at=now))
        row = conn.execute(query).one()
    return row


def _ready(
    conn: Connection, rows: list[Any], cursor: Any, now: datetime, grace_s: float
) -> tuple[list[Any], datetime | None]:
    """The rows that may be fanned out now, and the hole's first sighting to keep."""
    if conn.dialect.name != "postgresql":
        return rows, None
    expected, ready = cursor.last_outbox_id + 1, list[Any]()
    for row in rows:
        if row.id != expected:
            seen = cursor.gap_seen_at if ready == [] else None
            if seen is not None and now - aware(seen) >= timedelta(seconds=grace_s):
                expected = row.id  # waited long enough: that id was rolled back
            else:
                return ready, seen or now
        ready.append(row)
        expected += 1
    return ready, None


def _publishers_of(conn: Connection, member_ids: set[int]) -> dict[int, int | None]:
    if not member_ids:
        return {}
    rows = conn.execute(
        select(_members.c.id, _members.c.publisher_id).where(
            one_of(conn, _members.c.id, sorted(member_ids))
        )
    )
    return {r.id: r.publisher_id for r in rows}


def fan_out(
    engine: Engine,
    now: datetime,
    *,
    batch_events: int = FANOUT_BATCH_EVENTS,
    gap_grace_s: float = GAP_GRACE_S,
) -> FanoutResult:
    """Queue deliveries for the next batch of outbox events (one transaction)."""
    with engine.begin() as conn:
        cursor = _locked_cursor(conn, now)
        rows = list(
            conn.execute(
                select(_outbox)
                .where(_outbox.c.id > cursor.last_outbox_id)
                .order_by(_outbox.c.id)
                .limit(batch_events)
            )
        )
        rows, gap_seen_at = _ready(conn, rows, cursor, now, gap_grace_s)
        result = FanoutResult(last_outbox_id=cursor.last_outbox_id)
        if not rows:
            if gap_seen_at != cursor.gap_seen_at:
                conn.execute(
                    update(_cursor)
                    .where(_cursor.c.name == PARTNERS_CURSOR)
                    .values(gap_seen_at=gap_seen_at, updated_at=now)
                )
            return result
        # Locked so a replay cannot take the same sequence numbers meanwhile.
        endpoints = list(
            conn.execute(
                select(
                    _endpoints.c.id,
                    _endpoints.c.publisher_id,
                    _endpoints.c.event_types,
                    _endpoints.c.after_outbox_id,
                    _endpoints.c.last_sequence,
                )
                .order_by(_endpoints.c.id)
                .with_for_update()
            )
        )
        publishers = _publishers_of(conn, {r.member_id for r in rows if r.member_id})
        sequences = {e.id: e.last_sequence for e in endpoints}
        types = {e.id: event_types_of(e.event_types) for e in endpoints}
        deliveries: list[dict[str, Any]] = []
        for row in rows:
            member_publisher = publishers.get(row.member_id) if row.member_id else None
            for endpoint in endpoints:
                if row.id <= endpoint.after_outbox_id:
                    continue  # written before the endpoint existed
                if not wants(types[endpoint.id], row.type) or not visible_to(
                    endpoint_publisher_id=endpoint.publisher_id,
                    event_type=row.type,
                    member_publisher_id=member_publisher,
                ):
                    continue
                sequences[endpoint.id] += 1
                deliveries.append(
                    {
                        "endpoint_id": endpoint.id,
                        "sequence": sequences[endpoint.id],
                        "outbox_event_id": row.id,
                        "status": PENDING,
                        "replay": False,
                        "attempts": 0,
                        "next_attempt_at": now,
                        "created_at": now,
                    }
                )
        if deliveries:
            conn.execute(insert(_deliveries), deliveries)
            changed = [
                {"b_id": e.id, "b_seq": sequences[e.id]}
                for e in endpoints
                if sequences[e.id] != e.last_sequence
            ]
            conn.execute(
                update(_endpoints)
                .where(_endpoints.c.id == bindparam("b_id"))
                .values(last_sequence=bindparam("b_seq")),
                changed,
            )
        result.events, result.deliveries = len(rows), len(deliveries)
        result.last_outbox_id = rows[-1].id
        conn.execute(
            update(_cursor)
            .where(_cursor.c.name == PARTNERS_CURSOR)
            .values(last_outbox_id=rows[-1].id, gap_seen_at=gap_seen_at, updated_at=now)
        )
        return result
