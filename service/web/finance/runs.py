"""Settlement runs for the console: the list, one run's steps, decisions, invoices, payouts
and donations, and the maker-checker rule on decisions."""

from __future__ import annotations

import json
from datetime import datetime

import sqlmodel
from sqlalchemy import select
from sqlmodel import Session, col

from service.problems import Conflict, Forbidden, InvalidInput, NotFound
from service.settlements import repository as repo
from service.settlements.tables import Charity, Donation
from service.web.i18n import N_
from service.web.staff.identity import Staff
from service.web.staff.tables import FinanceRunAction, StaffUser
from settlement.runs import records
from settlement.runs.approval import ApprovalError, Decision, decide
from settlement.runs.tables import MemberPayout, MerchantInvoice, SettlementRun

MAX_ROWS = 500  # payouts and donations shown per run (CSV has them all)
MAX_REASON_CHARS = 500


def get_run(session: Session, run_id: int):
    run = repo.get_run(session, run_id)
    if run is None:
        raise NotFound(N_("This settlement run does not exist."), field="run_id")
    return run


def list_runs(session: Session, *, limit: int = 200) -> list:
    query = (
        select(SettlementRun.__table__)
        .order_by(col(SettlementRun.period_start).desc())
        .limit(limit)
    )
    return list(session.connection().execute(query))


def actors(session: Session, run_id: int) -> dict[int, set[str]]:
    """Finance users who started or edited the run: they may not approve it."""
    found: dict[int, set[str]] = {}
    query = sqlmodel.select(FinanceRunAction).where(FinanceRunAction.run_id == run_id)
    for row in session.exec(query):
        found.setdefault(row.staff_user_id, set()).add(row.action)
    return found


def record_action(session: Session, run_id: int, who: Staff, action: str, now: datetime) -> None:
    session.add(FinanceRunAction(run_id=run_id, staff_user_id=who.id, action=action, at=now))
    session.flush()


def take_decision(
    session: Session, run_id: int, who: Staff, decision: Decision, reason: str, *, now: datetime
) -> None:
    """The approver's decision, in the audit trail with who and when (maker-checker)."""
    get_run(session, run_id)
    if who.role != "approver":
        raise Forbidden(N_("Only an approver can approve or reject a run."), field="role")
    if who.id in actors(session, run_id):
        raise Forbidden(
            N_("You started or edited this run, so someone else must approve it."),
            field="run_id",
            reason="maker_checker",
        )
    if len(reason) > MAX_REASON_CHARS:
        raise InvalidInput(N_("Keep the reason under 500 characters."), field="reason")
    if decision is Decision.REJECTED and not reason.strip():
        raise InvalidInput(N_("Say why the run is rejected."), field="reason", reason="required")
    try:
        decide(
            session.connection(), run_id, decision=decision, actor=who.actor, reason=reason, now=now
        )
    except ApprovalError:
        raise Conflict(
            N_("This run is not waiting for approval (someone may have decided already)."),
            field="reason",
            reason="not_awaiting_approval",
        ) from None


def decisions(session: Session, run_id: int) -> list[dict]:
    """The audit trail with each actor's name (staff users by email; API keys by id)."""
    rows = records.decisions(session.connection(), run_id)
    out = []
    for row in rows:
        who = row.actor
        if ":staff:" in row.actor:
            user = session.get(StaffUser, int(row.actor.rsplit(":", 1)[1]))
            who = user.email if user else row.actor
        elif row.actor == "system:auto":
            who = N_("automatic (below the approval limit)")
        out.append({**dict(row._mapping), "who": who})
    return out


def invoices(session: Session, run_id: int) -> list:
    inv = MerchantInvoice.__table__
    query = select(inv).where(inv.c.run_id == run_id).order_by(inv.c.merchant_id)
    return list(session.connection().execute(query.limit(MAX_ROWS)))


def payouts(session: Session, run_id: int, *, limit: int = MAX_ROWS) -> list:
    p = MemberPayout.__table__
    query = select(p).where(p.c.run_id == run_id).order_by(p.c.status != "failed", p.c.id)
    return list(session.connection().execute(query.limit(limit)))


def donations(session: Session, run, *, limit: int = MAX_ROWS) -> list:
    """Donations made in the run's period, with the charity's name."""
    d, c = Donation.__table__, Charity.__table__
    query = (
        select(d, c.c.name.label("charity"))
        .join(c, c.c.id == d.c.charity_id)
        .where(d.c.created_at >= run.period_start, d.c.created_at < run.period_end)
        .order_by(d.c.id)
        .limit(limit)
    )
    return list(session.connection().execute(query))


# The order a run goes through, whatever the clocks of the steps said.
STEP_ORDER = ("open", "mature", "statements", "approval", "bill", records.PAYOUTS_PLANNED,
              "pay", "report", "closed")  # fmt: skip


def ordered_steps(done: list) -> list[dict]:
    """Every step in run order: finished ones with time and result, the rest still to come."""
    by_name = {s.step: s for s in done}
    out = []
    for name in STEP_ORDER:
        step = by_name.get(name)
        out.append({
            "step": name,
            "completed_at": step.completed_at if step else None,
            "detail": step.detail if step else "",
        })  # fmt: skip
    return out


def waiting(run, steps: list) -> str | None:
    """What the run is waiting for, in words, or None."""
    if run.status == "awaiting_approval":
        return N_("An approver's decision: nothing is billed or paid until then.")
    if run.status == "approved":
        return N_("The next scheduled run to bill merchants and pay members.")
    return None


def report_rows(session: Session, run_id: int) -> list[dict]:
    row = repo.report(session, run_id)
    if row is None:
        return []
    body = json.loads(row.body_json)
    offers = body.get("offers", body) if isinstance(body, dict) else body
    return offers if isinstance(offers, list) else []
