"""Every query of the ledger views: accounts by owner and kind, an account's entries (keyset
paged by entry id) with all their postings, a card event by its source and external id."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Row, select
from sqlmodel import Session

from service.tables import CardEventRow
from settlement.ledger.slots import account_columns
from settlement.tables import LedgerAccount, LedgerEntry, LedgerEntryResolution, LedgerPosting

_accounts = LedgerAccount.__table__
_entries = LedgerEntry.__table__
_postings = LedgerPosting.__table__
_resolutions = LedgerEntryResolution.__table__
# A row read through Core, its columns reached by name (`row.entry_id`).
AnyRow = Row[*tuple[Any, ...]]

_events = CardEventRow.__table__


def list_accounts(
    session: Session,
    *,
    after_id: int,
    limit: int,
    owner_type: str | None,
    owner_id: int | None,
    kind: str | None,
    currency: str | None,
) -> Sequence[AnyRow]:
    query = select(*account_columns()).where(_accounts.c.id > after_id)
    if owner_type is not None:
        query = query.where(_accounts.c.owner_type == owner_type)
    if owner_id is not None:
        query = query.where(_accounts.c.owner_id == owner_id)
    if kind is not None:
        query = query.where(_accounts.c.kind == kind)
    if currency is not None:
        query = query.where(_accounts.c.currency == currency)
    return session.connection().execute(query.order_by(_accounts.c.id).limit(limit)).all()


def get_account(session: Session, account_id: int) -> AnyRow | None:
    return (
        session.connection()
        .execute(select(*account_columns()).where(_accounts.c.id == account_id))
        .first()
    )


def entry_ids_of_account(
    session: Session, account_id: int, *, after_id: int, limit: int
) -> list[int]:
    return list(
        session.connection()
        .execute(
            select(_postings.c.entry_id)
            .where(_postings.c.account_id == account_id, _postings.c.entry_id > after_id)
            .group_by(_postings.c.entry_id)
            .order_by(_postings.c.entry_id)
            .limit(limit)
        )
        .scalars()
    )


def entries_with_status(session: Session, entry_ids: list[int]) -> Sequence[AnyRow]:
    """The entries with how each ended (`resolution` None: as written)."""
    if not entry_ids:
        return []
    return (
        session.connection()
        .execute(
            select(_entries, _resolutions.c.status.label("resolution"))
            .outerjoin(_resolutions, _resolutions.c.entry_id == _entries.c.id)
            .where(_entries.c.id.in_(entry_ids))
            .order_by(_entries.c.id)
        )
        .all()
    )


def postings_of(session: Session, entry_ids: list[int]) -> Sequence[AnyRow]:
    if not entry_ids:
        return []
    return (
        session.connection()
        .execute(
            select(
                _postings.c.entry_id,
                _postings.c.account_id,
                _accounts.c.code,
                _postings.c.amount,
                _postings.c.currency,
            )
            .join(_accounts, _accounts.c.id == _postings.c.account_id)
            .where(_postings.c.entry_id.in_(entry_ids))
            .order_by(_postings.c.entry_id, _postings.c.id)
        )
        .all()
    )


def card_event_by_external_id(session: Session, source: str, external_id: str) -> AnyRow | None:
    return (
        session.connection()
        .execute(
            select(_events).where(_events.c.source == source, _events.c.external_id == external_id)
        )
        .first()
    )
