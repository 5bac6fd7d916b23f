"""Re-opening a rejected run as the next attempt at its period.

A rejection stops a run before any money moves (approval comes before billing and payouts),
so the next attempt can compute, bill and pay the period afresh: its invoices and payouts
carry keys derived from its own run id, and the rejected attempt has none to repeat. The
rejected attempt keeps its steps, statements and decisions; the re-opening is one more
decision on it (who, when, why), and the new attempt names it as `previous_run_id`.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, insert

from settlement.runs import records
from settlement.runs.tables import SettlementRun

_runs = SettlementRun.__table__
REOPENED = "reopened"


class ReopenError(Exception):
    """The run cannot be re-opened now (not rejected, or re-opened already)."""


def reopen_run(conn: Connection, run_id: int, *, actor: str, reason: str, now: datetime) -> int:
    """The new attempt's run id (the caller's transaction)."""
    run = records.get_run(conn, run_id)
    if run is None:
        raise LookupError(f"settlement run {run_id} does not exist")
    if run.status != "rejected":
        raise ReopenError(f"run {run_id} is {run.status}: only a rejected run can be re-opened")
    latest = records.find_run(conn, run.kind, run.period)
    assert latest is not None  # `run` itself is an attempt at (kind, period)
    if latest.id != run.id:
        raise ReopenError(f"run {run_id} was re-opened already as run {latest.id}")
    if not reason.strip():
        raise ReopenError("re-opening a run needs a reason")
    attempt = run.attempt + 1
    new_id: int = conn.execute(
        insert(_runs)
        .values(
            kind=run.kind,
            period=run.period,
            period_start=run.period_start,
            period_end=run.period_end,
            attempt=attempt,
            previous_run_id=run.id,
            status="open",
            total_amount=0,
            created_at=now,
            updated_at=now,
        )
        .returning(_runs.c.id)
    ).scalar_one()
    records.add_decision(conn, run.id, decision=REOPENED, actor=actor, reason=reason, now=now)
    records.record_step(
        conn, new_id, "open", now, detail=f"attempt {attempt}, re-opened from run {run.id}"
    )
    return new_id
