"""Budget holds: on PostgreSQL a feed batch reserves in a short transaction of its own.

Reserved inside the batch's transaction, a budget row stays locked through the batch's writes
and commit, and a second ingest process that needs the same offer waits there (two workers
spent 1.3 s per batch waiting, and ran no faster than one). So once a batch is decided it
reserves through a second connection, in a transaction committed at once, and records what it
took as hold rows keyed by the batch. The batch's own transaction then deletes those rows: its
commit makes the reservation final, and if it does not commit the rows remain, to be given
back. Each batch holds a transaction-level advisory lock on its key from before its holds are
committed until it ends, so a hold whose key is free belongs to a batch that is over: the
pipeline gives its own back at once after a failed attempt, and `give_back_abandoned` gives
back those of a process that died (run by `clo ingest` as it starts and by the scheduler
every minute).

Only increases are held. A batch's releases (refunds, reversals) are written in its own
transaction, late (`write_releases`): given back after another batch had reserved what they
freed, a held release would overspend.

SQLite has one writer (every write transaction is BEGIN IMMEDIATE): a batch reserves in its
own transaction and writes no holds.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from secrets import randbits
from threading import Lock
from weakref import WeakKeyDictionary

from sqlalchemy import Connection, Engine, create_engine, delete, event, func, insert, select, text
from sqlalchemy.exc import OperationalError

from settlement.budget import BudgetMoved, Remaining, apply_reservations, read_budgets, reserve
from settlement.tables import OfferBudgetHold

log = logging.getLogger(__name__)
_holds = OfferBudgetHold.__table__
# A reservation waits at most this long for a budget row; past it the batch is decided again.
# Reserving never holds a row for longer than a few statements (or a decision, when a batch is
# decided again with its budgets locked); a longer wait means a cycle through the batch's
# own transaction, which PostgreSQL cannot see.
HOLD_LOCK_TIMEOUT_MS = 5_000
LOCK_NOT_AVAILABLE = "55P03"


class BudgetHolds:
    """One attempt of a batch: where it reads budgets, reserves them and writes releases."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.ahead = engine.dialect.name == "postgresql"  # else: in the batch's transaction
        self.key = randbits(63)
        self.committed_ahead = False  # holds committed that the batch has not finished
        self._batch: Connection | None = None
        self._reservation: Connection | None = None
        self._releases: dict[int, tuple[int, int]] = {}

    def __enter__(self) -> BudgetHolds:
        return self

    def __exit__(self, exc_type: object, *_: object) -> None:
        """After the batch's transaction has ended: a batch that did not commit gives back at
        once what it reserved ahead (a failure to is left to `give_back_abandoned`)."""
        self._end_reservation()
        if self.committed_ahead and exc_type is not None:
            try:
                give_back_abandoned(self.engine, [self.key])
            except Exception:
                log.exception("budget holds of batch %s not given back yet", self.key)

    def on(self, batch: Connection) -> BudgetHolds:
        """The batch's transaction, for reads, holds it takes and releases."""
        self._batch = batch
        return self

    @property
    def batch(self) -> Connection:
        assert self._batch is not None, "BudgetHolds.on(connection) first"
        return self._batch

    def read_remaining(
        self, offer_ids: set[int], lock: bool | frozenset[int]
    ) -> dict[int, Remaining]:
        """As `budget.read_budgets`; the locked ones through the reservation's transaction,
        which holds them until this attempt reserves."""
        locked = lock is True or bool(lock and offer_ids & lock)
        if not (locked and self.ahead):
            return read_budgets(self.batch, offer_ids, lock)
        with _timeout_refuses(offer_ids):
            return read_budgets(self._reserving(), offer_ids, lock)

    def reserve(
        self, deltas: Mapping[int, tuple[int, int]], limited: Iterable[int]
    ) -> dict[int, Remaining]:
        """Reserve each offer's delta within its limits; what remained of the limited ones
        just before (as `budget.reserve`). Raises `BudgetMoved` if another batch got there
        first."""
        if not self.ahead:
            return reserve(self.batch, deltas, limited)
        increases = {k: (max(a, 0), max(n, 0)) for k, (a, n) in deltas.items() if a > 0 or n > 0}
        self._releases = {
            k: (min(a, 0), min(n, 0)) for k, (a, n) in deltas.items() if a < 0 or n < 0
        }
        if not increases:
            self._end_reservation()
            return {}
        # Before the holds are visible: while this batch lives, nobody gives them back.
        self.batch.execute(select(func.pg_advisory_xact_lock(self.key)))
        conn = self._reserving()
        # A refusal leaves the reservation's transaction open: ended, and its locks freed,
        # when the attempt ends.
        with _timeout_refuses(increases):
            before = reserve(conn, increases, limited)
            rows = [
                {"batch_key": self.key, "offer_id": k, "amount": a, "redemptions": n}
                for k, (a, n) in sorted(increases.items())
            ]
            conn.execute(insert(_holds), rows)
            conn.commit()
        self.committed_ahead = True
        taken = self.batch.execute(delete(_holds).where(_holds.c.batch_key == self.key))
        if taken.rowcount != len(rows):  # given back while this batch stalled: decide again
            raise BudgetMoved(increases)
        return before

    def write_releases(self) -> None:
        """The budget this batch frees (refunds, reversals), in its own transaction."""
        apply_reservations(self.batch, self._releases)

    def _reserving(self) -> Connection:
        if self._reservation is None:
            self._reservation = reservation_engine(self.engine).connect()
            # For this one transaction (not the pooled connection's next user): a bounded wait
            # for budget rows, and no flush of its own. The batch commits after it, and
            # flushing the batch's commit flushes all the log before it, this reservation
            # included; lost in a crash before that, it was never spent, and kept without the
            # batch it is given back.
            self._reservation.execute(
                text(
                    "SELECT set_config('lock_timeout', :timeout, true),"
                    " set_config('synchronous_commit', 'off', true)"
                ),
                {"timeout": str(HOLD_LOCK_TIMEOUT_MS)},
            )
        return self._reservation

    def _end_reservation(self) -> None:
        if self._reservation is not None:
            self._reservation.close()  # rolls back whatever it has not committed
            self._reservation = None


_reservation_engines: WeakKeyDictionary[Engine, Engine] = WeakKeyDictionary()
_reservation_engines_lock = Lock()


def reservation_engine(engine: Engine) -> Engine:
    """The pool reservations are made from: one of their own, so that batches holding every
    connection of the main pool can never leave their reservations waiting for one (each
    batch would hold its connection while waiting for a second)."""
    with _reservation_engines_lock:  # the API's request threads share an engine
        found = _reservation_engines.get(engine)
        if found is None:
            found = create_engine(engine.url, pool_pre_ping=True, poolclass=type(engine.pool))
            _reservation_engines[engine] = found
            event.listen(engine, "engine_disposed", lambda _engine: found.dispose())
        return found


def give_back_abandoned(engine: Engine, keys: Iterable[int] | None = None) -> int:
    """Give back the holds of batches that are over without having committed (all, or those
    of `keys`); returns how many. A live batch's holds are skipped: it holds them locked (once
    it has deleted them) or holds its key's advisory lock (until then)."""
    with engine.begin() as conn:
        query = select(_holds.c.batch_key, _holds.c.offer_id, _holds.c.amount, _holds.c.redemptions)
        if keys is not None:
            query = query.where(_holds.c.batch_key.in_(list(keys)))
        postgres = conn.dialect.name == "postgresql"
        if postgres:
            query = query.with_for_update(skip_locked=True)
        rows = conn.execute(query).all()
        dead = {
            key
            for key in {r.batch_key for r in rows}
            if not postgres or conn.execute(select(func.pg_try_advisory_xact_lock(key))).scalar()
        }
        if not dead:
            return 0
        given = [r for r in rows if r.batch_key in dead]
        back: dict[int, tuple[int, int]] = {}
        for r in given:  # several dead batches may have held one offer
            amount, redemptions = back.get(r.offer_id, (0, 0))
            back[r.offer_id] = (amount - r.amount, redemptions - r.redemptions)
        conn.execute(delete(_holds).where(_holds.c.batch_key.in_(sorted(dead))))
        apply_reservations(conn, back)
        log.warning(
            "gave back %d budget holds of %d batches that did not commit", len(given), len(dead)
        )
        return len(given)


@contextmanager
def _timeout_refuses(offer_ids: Iterable[int]) -> Iterator[None]:
    """A reservation kept waiting past its lock timeout: refused like a moved budget, so the
    batch rolls back (freeing what it holds) and is decided again."""
    try:
        yield
    except OperationalError as exc:
        if getattr(exc.orig, "sqlstate", None) != LOCK_NOT_AVAILABLE:
            raise
        raise BudgetMoved(offer_ids) from exc
