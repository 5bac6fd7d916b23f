"""Running a settlement exactly once: open -> mature -> statements -> approval -> bill ->
pay -> charities -> report -> closed, each step in its own transaction ending with its
recovery point.

`settle()` may be called any number of times, from any number of processes: it resumes at
the first step not recorded, does nothing for a closed or rejected run, and stops at
approval until a decision exists. On PostgreSQL a transaction-level advisory lock, held by
a guard transaction for the whole call, lets one caller work on a run at a time (the others
return `busy`); on SQLite every write transaction is BEGIN IMMEDIATE, each step re-checks
its recovery point inside its transaction, and the unique (kind, period) key makes racing
callers share one run. External calls carry idempotency keys derived from run and party.

Crash testing: `checkpoint(name)` runs after every step ("after:<step>") and at points
inside steps; an injected hook may raise, and `CLO_SETTLE_CRASH_AT=<name>` ends the
process there with `os._exit(CRASH_EXIT_CODE)`.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, insert, select, text
from sqlalchemy.exc import IntegrityError

from settlement.ledger.accounts import AccountDirectory
from settlement.maturation import run_maturation
from settlement.outbox import OutboxEventType, record_outbox_event
from settlement.runs import records
from settlement.runs.approval import Decision, approval_gate, run_facts
from settlement.runs.billing import bill_merchants, grant_credits
from settlement.runs.charities import pay_charities
from settlement.runs.payouts import pay_members, plan_payouts
from settlement.runs.periods import Period
from settlement.runs.ports import Ports, ProviderBusy
from settlement.runs.records import RunRecord
from settlement.runs.reports import fallback_report
from settlement.runs.statements import compute_statements
from settlement.runs.tables import SettlementReport, SettlementRun, SettlementStatementLine

_runs = SettlementRun.__table__
_reports = SettlementReport.__table__
_lines = SettlementStatementLine.__table__

log = logging.getLogger(__name__)
CRASH_ENV = "CLO_SETTLE_CRASH_AT"
CRASH_EXIT_CODE = 75
WEEKLY = "weekly"


@dataclass(frozen=True, slots=True)
class RunSettings:
    auto_approve_below_amount: int = 100_000
    payout_minimum_amount: int = 1_000


@dataclass(slots=True)
class RunOutcome:
    run_id: int | None
    status: str
    busy: bool = False
    steps_now: list[str] = field(default_factory=list)  # steps done by this call
    timings_ms: dict[str, float] = field(default_factory=dict)


def _env_crash(name: str) -> None:
    if os.environ.get(CRASH_ENV) == name:
        os._exit(CRASH_EXIT_CODE)


def lock_key(kind: str, period: str) -> int:
    digest = hashlib.blake2b(f"settlement:{kind}:{period}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


@contextmanager
def run_guard(engine: Engine, kind: str, period: str) -> Iterator[bool]:
    """PostgreSQL: hold pg_try_advisory_xact_lock in a guard transaction; SQLite: always."""
    if engine.dialect.name != "postgresql":
        yield True
        return
    with engine.connect() as guard, guard.begin():
        got = guard.execute(
            text("SELECT pg_try_advisory_xact_lock(:k)"), {"k": lock_key(kind, period)}
        ).scalar_one()
        yield bool(got)


def open_run(engine: Engine, kind: str, period: Period, now: datetime) -> int:
    """The run of (kind, period): created with its first recovery point, or the existing one."""
    with engine.begin() as conn:
        found = records.find_run(conn, kind, period.label)
        if found is not None:
            return found.id
    try:
        with engine.begin() as conn:
            run_id: int = conn.execute(
                insert(_runs)
                .values(
                    kind=kind,
                    period=period.label,
                    period_start=period.start,
                    period_end=period.end,
                    status="open",
                    total_amount=0,
                    created_at=now,
                    updated_at=now,
                )
                .returning(_runs.c.id)
            ).scalar_one()
            records.record_step(conn, run_id, "open", now)
            return run_id
    except IntegrityError:  # another scheduler opened it first
        with engine.begin() as conn:
            found = records.find_run(conn, kind, period.label)
            assert found is not None
            return found.id


class SettlementRunner:
    def __init__(
        self,
        engine: Engine,
        ports: Ports,
        settings: RunSettings | None = None,
        *,
        hook: Callable[[str], None] | None = None,
    ) -> None:
        self.engine = engine
        self.ports = ports
        self.settings = settings or RunSettings()
        self.hook = hook
        self.directory = AccountDirectory()

    def checkpoint(self, name: str) -> None:
        if self.hook is not None:
            self.hook(name)
        _env_crash(name)

    def settle(self, period: Period, now: datetime, *, kind: str = WEEKLY) -> RunOutcome:
        with run_guard(self.engine, kind, period.label) as acquired:
            if not acquired:
                return RunOutcome(None, "busy", busy=True)
            run_id = open_run(self.engine, kind, period, now)
            self.checkpoint("after:open")
            return self._resume(run_id, now)

    def _resume(self, run_id: int, now: datetime) -> RunOutcome:
        outcome = RunOutcome(run_id, "open")
        for step in records.STEPS[1:]:
            with self.engine.begin() as conn:
                run = records.require_run(conn, run_id)
                done = records.step_done(conn, run_id, step)
            if run.status == "rejected":
                outcome.status = "rejected"
                return outcome
            if done:
                continue
            started = time.perf_counter()
            try:
                finished = getattr(self, f"_step_{step}")(run, now)
            except ProviderBusy as exc:  # a rate limit: the next resume goes on from here
                log.warning("settlement run %s: %s paused, provider busy: %s", run_id, step, exc)
                outcome.status = "retry_later"
                return outcome
            outcome.timings_ms[step] = round((time.perf_counter() - started) * 1000, 1)
            if not finished:
                with self.engine.begin() as conn:
                    outcome.status = records.require_run(conn, run_id).status
                return outcome
            outcome.steps_now.append(step)
            self.checkpoint(f"after:{step}")
        with self.engine.begin() as conn:
            outcome.status = records.require_run(conn, run_id).status
        return outcome

    # -- the steps: each returns False to stop (waiting for approval, or rejected) ----------
    def _step_mature(self, run: RunRecord, now: datetime) -> bool:
        result = run_maturation(self.engine, now)
        with self.engine.begin() as conn:
            if not records.step_done(conn, run.id, "mature"):
                records.record_step(
                    conn,
                    run.id,
                    "mature",
                    now,
                    status="matured",
                    detail=f"{result.matured_count} matured, {result.expired_count} expired",
                )
        return True

    def _step_statements(self, run: RunRecord, now: datetime) -> bool:
        with self.engine.begin() as conn:
            if records.step_done(conn, run.id, "statements"):
                return True
            totals = compute_statements(conn, run.id, run.period_start, run.period_end, now)
            records.record_step(
                conn,
                run.id,
                "statements",
                now,
                status="statements",
                detail=f"{totals.merchants} merchants, {totals.lines} lines",
                total_amount=totals.total_amount,
            )
        return True

    def _step_approval(self, run: RunRecord, now: datetime) -> bool:
        with self.engine.begin() as conn:
            if records.step_done(conn, run.id, "approval"):
                return True
            run = records.require_run(conn, run.id)
            decision = approval_gate(
                conn,
                run,
                auto_approve_below_amount=self.settings.auto_approve_below_amount,
                now=now,
            )
            if decision is None:
                return False
            if decision is Decision.REJECTED:
                records.set_status(conn, run.id, "rejected", now)
                return False
            records.record_step(conn, run.id, "approval", now, status="approved")
        return True

    def _step_bill(self, run: RunRecord, now: datetime) -> bool:
        sent = bill_merchants(self.engine, run, self.ports.billing, now, self.checkpoint)
        credited = grant_credits(self.engine, run, self.ports.billing, now, self.checkpoint)
        with self.engine.begin() as conn:
            if not records.step_done(conn, run.id, "bill"):
                records.record_step(
                    conn,
                    run.id,
                    "bill",
                    now,
                    status="billed",
                    detail=f"{sent} invoices sent, {credited} credits granted",
                )
        return True

    def _step_pay(self, run: RunRecord, now: datetime) -> bool:
        plan_payouts(
            self.engine,
            run,
            self.ports.payouts,
            minimum_amount=self.settings.payout_minimum_amount,
            now=now,
            directory=self.directory,
        )
        self.checkpoint("pay:planned")
        tally = pay_members(
            self.engine, run, self.ports.payouts, now, self.checkpoint, self.directory
        )
        with self.engine.begin() as conn:
            if not records.step_done(conn, run.id, "pay"):
                records.record_step(conn, run.id, "pay", now, status="paid", detail=tally.detail())
        return True

    def _step_charities(self, run: Any, now: datetime) -> bool:
        tally = pay_charities(
            self.engine, run, self.ports.payouts, now, self.checkpoint, self.directory
        )
        with self.engine.begin() as conn:
            if not records.step_done(conn, run.id, "charities"):
                records.record_step(
                    conn, run.id, "charities", now, status="charities_paid", detail=tally.detail()
                )
        return True

    def _step_report(self, run: RunRecord, now: datetime) -> bool:
        with self.engine.begin() as conn:
            if records.step_done(conn, run.id, "report"):
                return True
            offer_ids = sorted(
                set(
                    conn.execute(
                        select(_lines.c.offer_id).where(_lines.c.run_id == run.id).distinct()
                    ).scalars()
                )
            )
            body, source = self._report_body(conn, run, offer_ids)
            conn.execute(
                insert(_reports).values(
                    run_id=run.id,
                    source=source,
                    body_json=json.dumps(body, default=str, sort_keys=True),
                    created_at=now,
                )
            )
            # The detail is read by finance people: what the report covers, not where it came from.
            detail = f"attribution of {len(offer_ids)} offers"
            records.record_step(conn, run.id, "report", now, status="reported", detail=detail)
        return True

    def _report_body(
        self, conn: Connection, run: RunRecord, offer_ids: list[int]
    ) -> tuple[object, str]:
        port = self.ports.report
        if port is not None:
            try:
                with conn.begin_nested():
                    body = port.build(
                        conn,
                        period_start=run.period_start,
                        period_end=run.period_end,
                        offer_ids=offer_ids,
                    )
                return body, port.source
            except Exception as exc:  # the report must not hold up a run that moved money
                log.exception("attribution report failed for run %s", run.id)
                body = fallback_report(conn, run)
                body["error"] = f"{type(exc).__name__}: {exc}"[:500]
                return body, "settlement.fallback"
        return fallback_report(conn, run), "settlement.fallback"

    def _step_closed(self, run: RunRecord, now: datetime) -> bool:
        with self.engine.begin() as conn:
            if not records.step_done(conn, run.id, "closed"):
                records.record_step(conn, run.id, "closed", now, status="closed", closed_at=now)
                closed = records.require_run(conn, run.id)
                record_outbox_event(
                    conn,
                    OutboxEventType.SETTLEMENT_CLOSED,
                    occurred_at=now,
                    now=now,
                    data=run_facts(closed),
                )
        return True

    def resume_unfinished(self, now: datetime) -> list[RunOutcome]:
        """Continue every run that is neither closed, rejected nor waiting for a decision."""
        with self.engine.begin() as conn:
            rows = list(
                conn.execute(
                    select(
                        _runs.c.id,
                        _runs.c.kind,
                        _runs.c.period,
                        _runs.c.period_start,
                        _runs.c.period_end,
                    )
                    .where(_runs.c.status.not_in(["closed", "rejected", "awaiting_approval"]))
                    .order_by(_runs.c.id)
                )
            )
        outcomes = []
        for row in rows:
            period = Period(row.period, row.period_start, row.period_end)
            outcomes.append(self.settle(period, now, kind=row.kind))
        return outcomes
