"""Reading and writing a run's state: the run row, its recovery points, approvals."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, insert, select, update

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


def get_run(conn: Connection, run_id: int):
    return conn.execute(select(_runs).where(_runs.c.id == run_id)).first()


def find_run(conn: Connection, kind: str, period: str) -> Any:
    """The latest attempt at settling (kind, period), or None."""
    return conn.execute(
        select(_runs)
        .where(_runs.c.kind == kind, _runs.c.period == period)
        .order_by(_runs.c.attempt.desc())
        .limit(1)
    ).first()


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


def latest_decision(conn: Connection, run_id: int):
    return conn.execute(
        select(_approvals)
        .where(_approvals.c.run_id == run_id)
        .order_by(_approvals.c.id.desc())
        .limit(1)
    ).first()


def add_decision(
    conn: Connection, run_id: int, *, decision: str, actor: str, reason: str, now: datetime
) -> int:
    return conn.execute(
        insert(_approvals)
        .values(run_id=run_id, decision=decision, actor=actor, reason=reason[:500], decided_at=now)
        .returning(_approvals.c.id)
    ).scalar_one()


def decisions(conn: Connection, run_id: int) -> list:
    return list(
        conn.execute(
            select(_approvals).where(_approvals.c.run_id == run_id).order_by(_approvals.c.id)
        )
    )
