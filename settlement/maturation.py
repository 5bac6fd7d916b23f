"""Maturation: cleared cashback past its hold becomes available; stale auths expire.

Both are plain functions of `now`, run in bounded chunks, each chunk its own transaction, so
a crash loses at most the chunk in flight and a rerun picks up where it stopped.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine, select

from settlement.budget import apply_reservations
from settlement.ledger.accounts import AccountDirectory
from settlement.rewards import RewardBook, RewardState
from settlement.tables import Reward

_rewards = Reward.__table__
CHUNK_REWARDS = 5000


@dataclass
class MaturationResult:
    matured_count: int = 0
    matured_amount: int = 0
    expired_count: int = 0
    released_amount: int = 0


def mature_due(
    engine: Engine,
    now: datetime,
    *,
    directory: AccountDirectory | None = None,
    chunk_rewards: int = CHUNK_REWARDS,
) -> MaturationResult:
    directory = directory or AccountDirectory()
    result = MaturationResult()
    last_id = 0
    while True:
        with engine.begin() as conn:
            ids = list(
                conn.execute(
                    select(_rewards.c.id)
                    .where(
                        _rewards.c.state == RewardState.CLEARED.value,
                        _rewards.c.hold_until <= now,
                        _rewards.c.id > last_id,
                    )
                    .order_by(_rewards.c.id)
                    .limit(chunk_rewards)
                ).scalars()
            )
            if not ids:
                return result
            last_id = ids[-1]
            book = RewardBook(now=now)
            for record in book.load(conn, set(ids)).values():
                # Locked now: an ingest batch may have changed it since the ids were read.
                if record.state is not RewardState.CLEARED or (
                    record.hold_until is not None and record.hold_until > now
                ):
                    continue
                amount = book.mature(record, at=now)
                result.matured_count += 1
                result.matured_amount += amount
            book.flush(conn, directory)


def expire_stale_auths(
    engine: Engine,
    now: datetime,
    *,
    directory: AccountDirectory | None = None,
    chunk_rewards: int = CHUNK_REWARDS,
) -> MaturationResult:
    """Void authorized rewards whose auth never cleared within `auth_expiry_days`."""
    directory = directory or AccountDirectory()
    result = MaturationResult()
    last_id = 0
    while True:
        with engine.begin() as conn:
            ids = list(
                conn.execute(
                    select(_rewards.c.id)
                    .where(
                        _rewards.c.state == RewardState.AUTHORIZED.value,
                        _rewards.c.expires_at <= now,
                        _rewards.c.id > last_id,
                    )
                    .order_by(_rewards.c.id)
                    .limit(chunk_rewards)
                ).scalars()
            )
            if not ids:
                return result
            last_id = ids[-1]
            book = RewardBook(now=now)
            released: dict[int, tuple[int, int]] = defaultdict(lambda: (0, 0))
            for record in book.load(conn, set(ids)).values():
                if record.state is not RewardState.AUTHORIZED:
                    continue  # cleared, refunded or reversed since the ids were read
                amount = book.void(record, reason="auth_expired", at=record.expires_at or now)
                a, n = released[record.offer_id]
                released[record.offer_id] = (a - amount, n - 1)
                result.expired_count += 1
                result.released_amount += amount
            # Budgets before balances, as every writer takes them (no deadlock with the feed).
            apply_reservations(conn, released)
            book.flush(conn, directory)


def run_maturation(engine: Engine, now: datetime) -> MaturationResult:
    """What the scheduler's daily job calls: expire stale auths, then mature what is due."""
    directory = AccountDirectory()
    expired = expire_stale_auths(engine, now, directory=directory)
    matured = mature_due(engine, now, directory=directory)
    matured.expired_count = expired.expired_count
    matured.released_amount = expired.released_amount
    return matured
