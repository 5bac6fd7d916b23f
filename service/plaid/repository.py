"""Every query of the Plaid domain (Core statements: sync runs outside a request session)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Row, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from service.linking_tables import PlaidAccount, PlaidItem, PlaidTransaction, UnresolvedMerchant
from service.plaid.mapping import TxState
from service.tables import CardEventRow
from settlement.ledger.bulk import one_of
from settlement.outbox import OutboxEventType, record_outbox_event

items = PlaidItem.__table__
RELINK = OutboxEventType.PLAID_ITEM_RELINK_REQUIRED
accounts = PlaidAccount.__table__
transactions = PlaidTransaction.__table__
unresolved = UnresolvedMerchant.__table__
events = CardEventRow.__table__
CHUNK = 500


def _insert(conn: Connection):
    return pg_insert if conn.dialect.name == "postgresql" else sqlite_insert


def _chunks(values: list, size: int = CHUNK) -> Iterable[list]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


def item_row(conn: Connection, item_id: int):
    return conn.execute(select(items).where(items.c.id == item_id)).first()


def item_by_ref(conn: Connection, item_ref: str):
    return conn.execute(select(items).where(items.c.item_ref == item_ref)).first()


def item_ids(conn: Connection, *, after_id: int, limit: int) -> list[int]:
    return list(
        conn.execute(
            select(items.c.id).where(items.c.id > after_id).order_by(items.c.id).limit(limit)
        ).scalars()
    )


def cards_by_account(conn: Connection, item_id: int) -> dict[str, int]:
    return dict(
        conn.execute(
            select(accounts.c.account_ref, accounts.c.card_id).where(accounts.c.item_id == item_id)
        ).all()
    )


def tx_states(conn: Connection, item_id: int) -> dict[str, TxState]:
    """Every transaction state of the Item (bounded by what one Item holds)."""
    t = transactions.c
    out = {}
    for r in conn.execute(select(transactions).where(t.item_id == item_id)):
        occurred = r.occurred_at
        if occurred is not None and occurred.tzinfo is None:
            occurred = occurred.replace(tzinfo=UTC)
        out[r.transaction_ref] = TxState(
            r.transaction_ref,
            r.card_id,
            r.event_external_id,
            r.kind,
            r.amount,
            r.currency,
            r.pending,
            r.merchant_key,
            r.version,
            r.removed,
            occurred,
            r.posted_as,
            r.auth_external_id,
        )
    return out


def save_tx_states(
    conn: Connection, item_id: int, states: Iterable[TxState], now: datetime
) -> None:
    rows = [
        {
            "transaction_ref": s.transaction_ref,
            "item_id": item_id,
            "card_id": s.card_id,
            "event_external_id": s.event_external_id,
            "kind": s.kind,
            "amount": s.amount,
            "currency": s.currency,
            "pending": s.pending,
            "merchant_key": s.merchant_key,
            "version": s.version,
            "removed": s.removed,
            "occurred_at": s.occurred_at,
            "posted_as": s.posted_as,
            "auth_external_id": s.auth_external_id,
            "updated_at": now,
        }
        for s in states
    ]
    for chunk in _chunks(rows):
        stmt = _insert(conn)(transactions).values(chunk)
        keep = {c: stmt.excluded[c] for c in chunk[0] if c != "transaction_ref"}
        conn.execute(stmt.on_conflict_do_update(index_elements=["transaction_ref"], set_=keep))


def advance_cursor(
    conn: Connection,
    item_id: int,
    *,
    expected: str,
    cursor: str,
    update_status: str | None,
    now: datetime,
) -> bool:
    """Move the cursor if no other sync moved it first (compare-and-set)."""
    result = conn.execute(
        update(items)
        .where(items.c.id == item_id, items.c.sync_cursor == expected)
        .values(
            sync_cursor=cursor,
            transactions_update_status=update_status,
            last_synced_at=now,
            status="active",
            error_code=None,
            error_status=None,
            updated_at=now,
        )
    )
    return result.rowcount == 1


def set_status(
    conn: Connection,
    item_id: int,
    status: str,
    error_code: str | None,
    now: datetime,
    *,
    error_status: int | None = None,
) -> None:
    member_id = conn.execute(  # only a change to relink_required is news
        select(items.c.member_id).where(items.c.id == item_id, items.c.status != status)
    ).scalar()
    conn.execute(
        update(items)
        .where(items.c.id == item_id)
        .values(status=status, error_code=error_code, error_status=error_status, updated_at=now)
    )
    if status == "relink_required" and member_id is not None:
        facts = {"plaid_item_id": item_id, "error_code": error_code}
        record_outbox_event(conn, RELINK, occurred_at=now, now=now, member_id=member_id, data=facts)


def set_update_status(conn: Connection, item_id: int, update_status: str, now: datetime) -> None:
    conn.execute(
        update(items)
        .where(items.c.id == item_id)
        .values(transactions_update_status=update_status, last_synced_at=now, updated_at=now)
    )


def unmatched_brandless(conn: Connection, external_ids: list[str]) -> list[Row[*tuple[Any, ...]]]:
    """Stored Plaid purchase events among `external_ids` that no brand resolved."""
    e = events.c
    found: list[Row[*tuple[Any, ...]]] = []
    for chunk in _chunks(external_ids):
        found += conn.execute(
            select(e.external_id, e.merchant_name, e.id).where(
                e.source == "plaid",
                one_of(conn, e.external_id, chunk),
                e.merchant_id.is_(None),
                e.kind.in_(("auth", "clearing")),
            )
        ).all()
    return found


def note_unresolved(
    conn: Connection, kind: str, value: str, example_name: str | None, count: int, now: datetime
) -> None:
    stmt = _insert(conn)(unresolved).values(
        kind=kind,
        value=value[:255],
        example_name=(example_name or None) and example_name[:255],
        event_count=count,
        first_seen_at=now,
        last_seen_at=now,
        status="open",
    )
    conn.execute(
        stmt.on_conflict_do_update(
            index_elements=["kind", "value"],
            set_={"event_count": unresolved.c.event_count + count, "last_seen_at": now},
        )
    )
