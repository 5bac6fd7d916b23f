"""Loading, in bulk, the member and offer state that matching one batch needs."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from functools import cache
from typing import Any, NamedTuple

from sqlalchemy import Connection, Select, func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from matching.match import MemberOfferState as OfferState
from service.offers.catalog import aware
from service.tables import Activation, Card, Member, MemberBrandState, MemberOfferState
from settlement.ledger.bulk import KEYS, by_keys, execute_many, keys_param

_card = Card.__table__
_member = Member.__table__
_activation = Activation.__table__
_brand_state = MemberBrandState.__table__
_offer_state = MemberOfferState.__table__
CHUNK = 5000


def _chunks(values: list, size: int = CHUNK) -> Iterable[list]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


@cache
def _query(dialect: str, name: str) -> Select[Any]:
    """The statements of the loaders below, built once per dialect (`by_keys` says why)."""
    match name:
        case "cards":
            return by_keys(
                dialect,
                select(_card.c.id, _card.c.member_id, _card.c.status, _card.c.unlinked_at),
                _card.c.id,
            )
        case "lock_members":  # locked in the order of the keys (`by_keys`): sorted
            return by_keys(
                dialect, select(_member.c.id).with_for_update(key_share=True), _member.c.id
            )
        case "members":
            return by_keys(
                dialect, select(_member.c.id, _member.c.tier, _member.c.birth_month), _member.c.id
            )
        case "activations":
            return by_keys(
                dialect,
                select(_activation.c.member_id, _activation.c.offer_id, _activation.c.activated_at),
                _activation.c.member_id,
            )
        case "brand_history":
            return by_keys(
                dialect,
                select(
                    _brand_state.c.member_id,
                    _brand_state.c.merchant_id,
                    _brand_state.c.first_purchase_at,
                    _brand_state.c.last_purchase_at,
                ),
                _brand_state.c.member_id,
            )
        case "offer_states":
            return by_keys(dialect, select(_offer_state), _offer_state.c.member_id)
    raise ValueError(name)


def _by_keys(conn: Connection, name: str, keys: list[int]) -> Iterable[Any]:
    return conn.execute(_query(conn.dialect.name, name), {KEYS: keys_param(conn, keys)})


class CardStatus(NamedTuple):
    member_id: int
    status: str  # active | unlinked
    unlinked_at: datetime | None


def load_cards(conn: Connection, card_ids: Iterable[int]) -> dict[int, CardStatus]:
    out = {}
    for chunk in _chunks(sorted(set(card_ids))):
        for cid, member_id, status, unlinked_at in _by_keys(conn, "cards", chunk):
            out[cid] = CardStatus(member_id, status, aware(unlinked_at))
    return out


def lock_members(conn: Connection, member_ids: Iterable[int]) -> None:
    """Hold the batch's members until commit, in id order (PostgreSQL; on SQLite the write
    transaction is the lock): a member's counters, caps and brand history are read, decided
    on and written by one batch at a time, while batches of other members run beside it.
    FOR NO KEY UPDATE does not block inserts that merely reference the member."""
    if conn.dialect.name != "postgresql":
        return
    for chunk in _chunks(sorted(set(member_ids))):
        conn.execute(_query(conn.dialect.name, "lock_members"), {KEYS: keys_param(conn, chunk)})


def load_members(conn: Connection, member_ids: Iterable[int]) -> dict[int, tuple[int, int | None]]:
    """member id -> (tier, birth month)."""
    out = {}
    for chunk in _chunks(sorted(set(member_ids))):
        for mid, tier, birth_month in _by_keys(conn, "members", chunk):
            out[mid] = (tier, birth_month)
    return out


def load_activations(
    conn: Connection, member_ids: Iterable[int], offer_ids: set[int]
) -> dict[int, dict[int, datetime]]:
    out: dict[int, dict[int, datetime]] = {}
    if not offer_ids:
        return out
    for chunk in _chunks(sorted(set(member_ids))):
        for member_id, offer_id, at in _by_keys(conn, "activations", chunk):
            if offer_id in offer_ids:
                out.setdefault(member_id, {})[offer_id] = aware(at)
    return out


def load_brand_history(
    conn: Connection, pairs: set[tuple[int, int]]
) -> dict[tuple[int, int], tuple[datetime, datetime]]:
    """(member, merchant) -> (first purchase, last purchase)."""
    out = {}
    for chunk in _chunks(sorted({member for member, _ in pairs})):
        for member_id, merchant_id, first, last in _by_keys(conn, "brand_history", chunk):
            if (member_id, merchant_id) in pairs:
                out[(member_id, merchant_id)] = (aware(first), aware(last))
    return out


def load_offer_states(
    conn: Connection, pairs: set[tuple[int, int]]
) -> dict[int, dict[int, OfferState]]:
    """member -> offer -> counters."""
    out: dict[int, dict[int, OfferState]] = {}
    for chunk in _chunks(sorted({member for member, _ in pairs})):
        for row in _by_keys(conn, "offer_states", chunk):
            if (row.member_id, row.offer_id) not in pairs:
                continue
            out.setdefault(row.member_id, {})[row.offer_id] = OfferState(
                reward_count=row.reward_count,
                reward_amount=row.reward_amount,
                stamp_count=row.stamp_count,
                threshold_spend_amount=row.threshold_spend_amount,
                threshold_paid=row.threshold_paid,
            )
    return out


def _insert(conn: Connection):
    return pg_insert if conn.dialect.name == "postgresql" else sqlite_insert


def add_offer_state_deltas(conn: Connection, deltas: dict[tuple[int, int], list[int]]) -> None:
    """Counters are written as deltas, so two writers never overwrite each other's counts.

    delta = [reward_count, reward_amount, stamp_count, threshold_spend_amount, threshold_paid]
    """
    if not deltas:
        return
    stmt = _insert(conn)(_offer_state)
    stmt = stmt.on_conflict_do_update(
        index_elements=["member_id", "offer_id"],
        set_={
            "reward_count": _offer_state.c.reward_count + stmt.excluded.reward_count,
            "reward_amount": _offer_state.c.reward_amount + stmt.excluded.reward_amount,
            "stamp_count": _offer_state.c.stamp_count + stmt.excluded.stamp_count,
            "threshold_spend_amount": _offer_state.c.threshold_spend_amount
            + stmt.excluded.threshold_spend_amount,
            "threshold_paid": _offer_state.c.threshold_paid | stmt.excluded.threshold_paid,
        },
    )
    execute_many(
        conn,
        stmt,
        [
            {
                "member_id": m,
                "offer_id": o,
                "reward_count": d[0],
                "reward_amount": d[1],
                "stamp_count": d[2],
                "threshold_spend_amount": d[3],
                "threshold_paid": bool(d[4]),
            }
            for (m, o), d in sorted(deltas.items())
        ],
    )


def add_brand_purchases(
    conn: Connection, purchases: dict[tuple[int, int], tuple[datetime, datetime, int]]
) -> None:
    if not purchases:
        return
    stmt = _insert(conn)(_brand_state)
    # SQLite's two-argument min/max are scalar functions, like LEAST/GREATEST on PostgreSQL.
    lowest, highest = (
        (func.least, func.greatest) if conn.dialect.name == "postgresql" else (func.min, func.max)
    )
    stmt = stmt.on_conflict_do_update(
        index_elements=["member_id", "merchant_id"],
        set_={
            "first_purchase_at": lowest(
                _brand_state.c.first_purchase_at, stmt.excluded.first_purchase_at
            ),
            "last_purchase_at": highest(
                _brand_state.c.last_purchase_at, stmt.excluded.last_purchase_at
            ),
            "purchase_count": _brand_state.c.purchase_count + stmt.excluded.purchase_count,
        },
    )
    execute_many(
        conn,
        stmt,
        [
            {
                "member_id": m,
                "merchant_id": b,
                "first_purchase_at": first,
                "last_purchase_at": last,
                "purchase_count": n,
            }
            for (m, b), (first, last, n) in sorted(purchases.items())
        ],
    )
