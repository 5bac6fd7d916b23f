"""Where a feed batch spends its time: seconds per stage, summed over the batches of a process.

`clo bench replay` prints them per event; the pipeline keeps one clock and laps it between
stages (a few calls per batch, so it costs nothing per event). On SQLite the `begin` stage is
the wait for the write lock; on PostgreSQL row-lock waits fall inside the statements' stages,
except a wait that ends in a refusal or a lost race, which is its own stage.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from time import perf_counter

# The wait that ended in a refused reservation or a lost race, and the rollback after it; the
# refused attempt's earlier stages stay in their own rows.
REFUSED_STAGE = "refused and rolled back"
# In the order a batch runs them.
STAGES = (
    "parse",
    "begin",
    "duplicates",
    "catalog",
    "cards",
    "originals",
    "load",
    "decide",
    "reserve budgets",
    "write events",
    "rewards and ledger",
    "counters and history",
    "balances and bookings",
    "commit",
    REFUSED_STAGE,
)


class StageClock:
    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)
        self.retries: Counter[str] = Counter()  # why a batch was decided again
        self._last = 0.0

    def start(self) -> None:
        self._last = perf_counter()

    def lap(self, stage: str) -> None:
        """Charge the time since the last lap (or start) to `stage`."""
        now = perf_counter()
        self.seconds[stage] += now - self._last
        self._last = now

    def merge(self, other: StageClock) -> None:
        for stage, seconds in other.seconds.items():
            self.seconds[stage] += seconds
        self.retries.update(other.retries)
