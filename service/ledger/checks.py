"""The ledger check as `clo ledger check` and the scheduler run it: the report, its result
on /metrics and in the log."""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy import Engine

from service.observability.metrics import record_ledger_check
from settlement.ledger.check import LedgerReport, check_ledger

log = logging.getLogger("clo.ledger")


def run_ledger_check(engine: Engine, now: datetime) -> LedgerReport:
    with engine.connect() as conn:
        report = check_ledger(conn)
    record_ledger_check(balanced=report.balanced, now_unix=now.timestamp())
    if report.balanced:
        log.info("ledger check: balanced", extra={"entries": report.entries})
    else:
        log.error("ledger check: NOT balanced", extra={"differences": report.lines()[:20]})
    return report
