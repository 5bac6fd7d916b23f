"""Lock-wait time on PostgreSQL, sampled: how long ingest backends spent waiting for a lock.

PostgreSQL keeps no running total of lock waits, so a thread looks at `pg_locks` every few
milliseconds and counts the backends waiting; waits shorter than the interval may be missed
and the figure is an estimate to the interval. On SQLite the wait for the write lock is the
`begin` stage of the pipeline's own clock, measured exactly.
"""

from __future__ import annotations

import threading
import time
from collections import defaultdict

import psycopg

SAMPLE_EVERY_S = 0.005
# By backend, not by lock: a wait for a row is a wait for the transaction that holds it, and
# that lock (`transactionid`) names no database, so filtering `pg_locks` by database missed
# every row-lock wait.
# Each waiting backend with what it waits for (a row's transaction, a tuple, an advisory
# lock, ...) and the start of its statement, which names the table.
_WAITING = (
    "SELECT wait_event, left(regexp_replace(query, '\\s+', ' ', 'g'), 48) FROM pg_stat_activity "
    "WHERE datname = current_database() AND wait_event_type = 'Lock'"
)


class LockWaitSampler:
    def __init__(self, conninfo: str) -> None:
        self.conninfo = conninfo.replace("postgresql+psycopg://", "postgresql://")
        self.waiting_s = 0.0
        self.samples = 0
        self.by_statement: dict[str, float] = defaultdict(float)  # backend-s per wait, statement
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="lock-wait-sampler", daemon=True)

    def __enter__(self) -> LockWaitSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        with psycopg.connect(self.conninfo, autocommit=True) as conn:
            last = time.perf_counter()
            while not self._stop.wait(SAMPLE_EVERY_S):
                waiting = conn.execute(_WAITING).fetchall()
                now = time.perf_counter()
                for wait_event, statement in waiting:
                    self.by_statement[f"{wait_event}: {statement}"] += now - last
                self.waiting_s += len(waiting) * (now - last)
                self.samples += 1
                last = now

    def top(self, n: int) -> list[tuple[str, float]]:
        """The statements that waited longest, with their backend-seconds."""
        return sorted(self.by_statement.items(), key=lambda item: -item[1])[:n]
