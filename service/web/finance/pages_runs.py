"""Settlement runs: the list, a run's page (steps, what waits, decisions, statements
reconciled to the ledger, invoices, payouts and donations), approve or reject, CSV."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request, Response
from fastapi.responses import RedirectResponse
from sqlmodel import Session

from service.auth import db_session
from service.integrations.stripe_billing import StripeNotConfigured
from service.problems import Problem
from service.settlements import repository as repo
from service.settlements.ports import make_runner
from service.web import csrf
from service.web.finance import runs
from service.web.finance.common import csv_response, page, reader
from service.web.forms import FormErrors, errors_from_problem
from service.web.staff.identity import Staff
from service.web.staff.statements import statements_csv, statements_of
from service.web.templating import formatter_of
from settlement.runs.approval import Decision
from settlement.runs.periods import iso_week, previous_week

log = logging.getLogger(__name__)
router = APIRouter(prefix="/finance", include_in_schema=False)
protected = [Depends(csrf.require_csrf)]
RunId = Annotated[int, Path(ge=1, le=2**31 - 1)]
RUN_COLUMNS = ("id", "kind", "period", "status", "total_amount", "created_at", "closed_at")


@router.get("")
def list_runs(request: Request, session: Session = db_session, who: Staff = Depends(reader)):
    found = runs.list_runs(session)
    context = {"runs": found, "next_period": previous_week(datetime.now(UTC)).label}
    return page(request, session, who, "finance/runs.html", context)


@router.get("/runs.csv")
def runs_csv(session: Session = db_session, _who: Staff = Depends(reader)) -> Response:
    rows = ([getattr(r, c) for c in RUN_COLUMNS] for r in runs.list_runs(session, limit=10_000))
    return csv_response("settlement-runs.csv", RUN_COLUMNS, rows)


def _run_page(request, session, who, run_id: int, *, errors=None, status: int = 200):
    run = runs.get_run(session, run_id)
    steps = runs.ordered_steps(repo.steps(session, run_id))
    statements = statements_of(session, run_id)
    context = {
        "run": run,
        "steps": steps,
        "names": {s.merchant_id: s.merchant_name for s in statements},
        "done": {s["step"] for s in steps if s["completed_at"]},
        "waiting": runs.waiting(run, steps),
        "decisions": runs.decisions(session, run_id),
        "statements": statements,
        "invoices": runs.invoices(session, run_id),
        "payouts": runs.payouts(session, run_id),
        "donations": runs.donations(session, run),
        "made_by_me": who.id in runs.actors(session, run_id),
        "errors": errors or FormErrors(),
    }
    return page(request, session, who, "finance/run.html", context, status)


@router.get("/runs/{run_id}")
def run_page(request: Request, run_id: RunId, session: Session = db_session, who=Depends(reader)):
    return _run_page(request, session, who, run_id)


def _continue(request: Request, run) -> str | None:
    """After an approval: bill and pay now, as the scheduler would; None when it did."""
    settings = request.app.state.settings
    try:
        runner = make_runner(request.app.state.engine, settings)
    except StripeNotConfigured:
        return "billing waits for the scheduler (Stripe is not configured here)"
    try:
        runner.settle(iso_week(run.period), datetime.now(UTC), kind=run.kind)
    except Exception:  # the run resumes at its last recovery point on the next attempt
        log.exception("settlement run %s did not finish after approval", run.id)
        return "billing stopped; the scheduler resumes it"
    return None


@router.post("/runs/{run_id}/{decision}", dependencies=protected)
async def decide(
    request: Request,
    run_id: RunId,
    decision: Annotated[str, Path(pattern="^(approve|reject)$")],
    session: Session = db_session,
    who: Staff = Depends(reader),
) -> Response:
    form = await request.form()
    reason = str(form.get("reason") or "").strip()
    chosen = Decision.APPROVED if decision == "approve" else Decision.REJECTED
    try:
        runs.take_decision(session, run_id, who, chosen, reason, now=datetime.now(UTC))
    except Problem as exc:
        session.rollback()
        if exc.status == 404:
            raise
        errors = errors_from_problem(exc, {"reason"}, formatter_of(request).gettext)
        return _run_page(request, session, who, run_id, errors=errors, status=exc.status)
    if chosen is Decision.APPROVED:
        run = runs.get_run(session, run_id)
        session.commit()  # the decision stands before any money moves
        note = _continue(request, run)
        suffix = "&billing=later" if note else ""
        return RedirectResponse(f"/finance/runs/{run_id}?approved=1{suffix}", status_code=303)
    return RedirectResponse(f"/finance/runs/{run_id}?rejected=1", status_code=303)


@router.post("/runs/start", dependencies=protected)
def start_run(request: Request, session: Session = db_session, who: Staff = Depends(reader)):
    """Settle last week now (a run the scheduler would start on Monday); its starter is
    recorded, so another person must approve it."""
    period = previous_week(datetime.now(UTC))
    try:
        runner = make_runner(request.app.state.engine, request.app.state.settings)
    except StripeNotConfigured:
        errors = FormErrors(general=formatter_of(request).gettext("Stripe is not configured."))
        context = {"runs": runs.list_runs(session), "next_period": period.label, "errors": errors}
        return page(request, session, who, "finance/runs.html", context, 503)
    session.commit()
    outcome = runner.settle(period, datetime.now(UTC))
    if outcome.run_id is None:  # another process is running it right now
        return RedirectResponse("/finance?busy=1", status_code=303)
    if "mature" in outcome.steps_now:  # this request did the run's work: its maker
        runs.record_action(session, outcome.run_id, who, "started", datetime.now(UTC))
    return RedirectResponse(f"/finance/runs/{outcome.run_id}?started=1", status_code=303)


@router.get("/runs/{run_id}/statements.csv")
def run_statements_csv(run_id: RunId, session: Session = db_session, _w=Depends(reader)):
    run = runs.get_run(session, run_id)
    return Response(
        statements_csv(run, statements_of(session, run_id)),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="statements-{run.period}.csv"'},
    )


@router.get("/runs/{run_id}/payouts.csv")
def run_payouts_csv(run_id: RunId, session: Session = db_session, _w=Depends(reader)):
    run = runs.get_run(session, run_id)
    columns = ("id", "member_id", "currency", "amount", "status", "transfer_ref", "failure_reason")
    rows = runs.payouts(session, run_id, limit=1_000_000)
    return csv_response(
        f"payouts-{run.period}.csv", columns, ([getattr(p, c) for c in columns] for p in rows)
    )


@router.get("/runs/{run_id}/invoices.csv")
def run_invoices_csv(run_id: RunId, session: Session = db_session, _w=Depends(reader)):
    run = runs.get_run(session, run_id)
    columns = ("merchant_id", "currency", "amount", "status", "invoice_ref", "paid_at")
    rows = runs.invoices(session, run_id)
    return csv_response(
        f"invoices-{run.period}.csv", columns, ([getattr(i, c) for c in columns] for i in rows)
    )
