"""The ledger check as `clo ledger check` and the scheduler run it: the report, its result
on /metrics and in the log."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine

from service.feeds.integrity import dangling_card_event_references, refund_tally_mismatches
from service.observability.metrics import record_ledger_check
from settlement.ledger.check import LedgerReport, check_ledger

log = logging.getLogger("clo.ledger")


@dataclass(frozen=True)
class LedgerCheck:
    report: LedgerReport
    # Card events whose card, member or merchant is missing (they have no foreign keys).
    dangling: list[str]
    # Rewards whose clawback refund tally disagrees with their events.
    refund_tallies: list[str]

    @property
    def balanced(self) -> bool:
        return self.report.balanced and not self.dangling and not self.refund_tallies

    def lines(self) -> list[str]:
        refs = [f"DANGLING {line}" for line in self.dangling] or ["card event references: ok"]
        tallies = [f"MISMATCH {line}" for line in self.refund_tallies[:20]] or [
            "reward refund tallies: ok"
        ]
        return self.report.lines() + refs + tallies


def run_ledger_check(engine: Engine, now: datetime) -> LedgerCheck:
    with engine.connect() as conn:
        check = LedgerCheck(
            check_ledger(conn),
            dangling_card_event_references(conn),
            refund_tally_mismatches(conn),
        )
    record_ledger_check(balanced=check.balanced, now_unix=now.timestamp())
    if check.balanced:
        log.info("ledger check: balanced", extra={"entries": check.report.entries})
    else:
        log.error("ledger check: NOT balanced", extra={"differences": check.lines()[:20]})
    return check
