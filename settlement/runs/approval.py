"""Approval before money moves: automatic below a configured total, else finance decides.

Every decision, automatic ones included, is a row of the audit trail (who, when, decision,
reason). A rejected run stops before billing and stays rejected; the period's figures can be
corrected with adjusting entries and settled by a run of another kind.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import Connection

from settlement.outbox import OutboxEventType, record_outbox_event
from settlement.runs import records
from settlement.runs.records import RunRecord


class Decision(StrEnum):
    APPROVED = "approved"
    REJECTED = "rejected"


class ApprovalError(Exception):
    """A decision that cannot be taken now (the run is not awaiting one)."""


AUTO_ACTOR = "system:auto"


def run_facts(run: RunRecord) -> dict[str, object]:
    """What a settlement event tells partners about its run."""
    return {"run_id": run.id, "period": run.period, "total_amount_minor": run.total_amount}


def approval_gate(
    conn: Connection, run: RunRecord, *, auto_approve_below_amount: int, now: datetime
) -> Decision | None:
    """The run's decision, taking the automatic one if its total allows; None: wait."""
    latest = records.latest_decision(conn, run.id)
    if latest is not None:
        return Decision(latest.decision)
    if run.total_amount < auto_approve_below_amount:
        records.add_decision(
            conn,
            run.id,
            decision=Decision.APPROVED,
            actor=AUTO_ACTOR,
            reason=(
                f"total {run.total_amount} below the automatic approval limit "
                f"{auto_approve_below_amount}"
            ),
            now=now,
        )
        return Decision.APPROVED
    if run.status != "awaiting_approval":
        records.set_status(conn, run.id, "awaiting_approval", now)
        record_outbox_event(
            conn,
            OutboxEventType.SETTLEMENT_AWAITING_APPROVAL,
            occurred_at=now,
            now=now,
            data=run_facts(run),
        )
    return None


def decide(
    conn: Connection, run_id: int, *, decision: Decision, actor: str, reason: str, now: datetime
) -> None:
    """Finance's decision on a run awaiting approval (the caller's transaction)."""
    run = records.get_run(conn, run_id)
    if run is None:
        raise LookupError(f"settlement run {run_id} does not exist")
    if run.status != "awaiting_approval":
        raise ApprovalError(f"run {run_id} is {run.status}, not awaiting approval")
    if decision is Decision.REJECTED and not reason.strip():
        raise ApprovalError("a rejection needs a reason")
    records.add_decision(conn, run_id, decision=decision, actor=actor, reason=reason, now=now)
    records.set_status(conn, run_id, decision.value, now)
