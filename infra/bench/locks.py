"""Lock-wait time on PostgreSQL, sampled: how long ingest backends spent waiting for a lock.

PostgreSQL keeps no running total of lock waits, so a thread looks at `pg_locks` every few
milliseconds and counts the backends waiting; waits shorter than the interval may be missed
and the figure is an estimate to the interval. On SQLite the wait for the write lock is the
`begin` stage of the pipeline's own clock, measured exactly.
"""

from __future__ import annotations

import threading
import time

import psycopg

SAMPLE_EVERY_S = 0.005
# By backend, not by lock: a wait for a row is a wait for the transaction that holds it, and
# that lock (`transactionid`) names no database, so filtering `pg_locks` by database missed
# every row-lock wait.
_WAITING = (
    "SELECT count(*) FROM pg_stat_activity "
    "WHERE datname = current_database() AND wait_event_type = 'Lock'"
)


class LockWaitSampler:
    def __init__(self, conninfo: str) -> None:
        self.conninfo = conninfo.replace("postgresql+psycopg://", "postgresql://")
        self.waiting_s = 0.0
        self.samples = 0
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
                (waiting,) = conn.execute(_WAITING).fetchone()  # type: ignore[misc]
                now = time.perf_counter()
                self.waiting_s += waiting * (now - last)
                self.samples += 1
                last = now
