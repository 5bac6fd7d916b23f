"""Reading and writing a run's state: the run row, its recovery points, approvals."""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row, insert, select, update

from settlement.runs.tables import SettlementApproval, SettlementRun, SettlementRunStep

_runs = SettlementRun.__table__
_steps = SettlementRunStep.__table__
_approvals = SettlementApproval.__table__

STEPS = (
    "open",
    "mature",
    "statements",
    "approval",
    "bill",
    "pay",
    "charities",
    "report",
    "closed",
)
# Recovery points inside steps (a step's own sub-stages), recorded like steps.
PAYOUTS_PLANNED = "payouts_planned"

# A row read through Core, its columns reached by name (`row.merchant_id`).
AnyRow = Row[*tuple[Any, ...]]


@dataclass(frozen=True, slots=True)
class RunRecord:
    """What the steps read of a run's row."""

    id: int
    kind: str
    period: str
    period_start: datetime
    period_end: datetime
    status: str
    total_amount: int
    attempt: int  # 1, then 2, 3, ... for a period re-opened after a rejection
    previous_run_id: int | None


_RUN_COLUMNS = [_runs.c[f.name] for f in fields(RunRecord)]


def _run_record(row: AnyRow | None) -> RunRecord | None:
    return None if row is None else RunRecord(*row)


def get_run(conn: Connection, run_id: int) -> RunRecord | None:
    return _run_record(conn.execute(select(*_RUN_COLUMNS).where(_runs.c.id == run_id)).first())


def require_run(conn: Connection, run_id: int) -> RunRecord:
    """The run, which must exist (it was opened before any step runs)."""
    run = get_run(conn, run_id)
    assert run is not None, f"settlement run {run_id} does not exist"
    return run


def find_run(conn: Connection, kind: str, period: str) -> RunRecord | None:
    """The latest attempt at settling (kind, period), or None."""
    return _run_record(
        conn.execute(
            select(*_RUN_COLUMNS)
            .where(_runs.c.kind == kind, _runs.c.period == period)
            .order_by(_runs.c.attempt.desc())
            .limit(1)
        ).first()
    )


def steps_done(conn: Connection, run_id: int) -> set[str]:
    return set(conn.execute(select(_steps.c.step).where(_steps.c.run_id == run_id)).scalars())


def step_done(conn: Connection, run_id: int, step: str) -> bool:
    found = conn.execute(
        select(_steps.c.step).where(_steps.c.run_id == run_id, _steps.c.step == step)
    ).first()
    return found is not None


def record_step(
    conn: Connection,
    run_id: int,
    step: str,
    now: datetime,
    *,
    status: str | None = None,
    detail: str = "",
    **values: object,
) -> None:
    """Mark `step` done in the caller's transaction (the one that did the step's work)."""
    conn.execute(
        insert(_steps).values(run_id=run_id, step=step, completed_at=now, detail=detail[:500])
    )
    changes: dict[str, object] = {"updated_at": now, **values}
    if status is not None:
        changes["status"] = status
    conn.execute(update(_runs).where(_runs.c.id == run_id).values(**changes))


def set_status(conn: Connection, run_id: int, status: str, now: datetime) -> None:
    conn.execute(update(_runs).where(_runs.c.id == run_id).values(status=status, updated_at=now))


def latest_decision(conn: Connection, run_id: int) -> AnyRow | None:
    return conn.execute(
        select(_approvals)
        .where(_approvals.c.run_id == run_id)
        .order_by(_approvals.c.id.desc())
        .limit(1)
    ).first()


def add_decision(
    conn: Connection, run_id: int, *, decision: str, actor: str, reason: str, now: datetime
) -> int:
    decision_id: int = conn.execute(
        insert(_approvals)
        .values(run_id=run_id, decision=decision, actor=actor, reason=reason[:500], decided_at=now)
        .returning(_approvals.c.id)
    ).scalar_one()
    return decision_id


def decisions(conn: Connection, run_id: int) -> list[AnyRow]:
    return list(
        conn.execute(
            select(_approvals).where(_approvals.c.run_id == run_id).order_by(_approvals.c.id)
        )
    )
