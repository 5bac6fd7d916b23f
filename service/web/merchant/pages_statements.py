"""Statements and invoices of each settled period, as finance sees them, for this merchant
alone; CSV of the statement lines."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request, Response
from sqlmodel import Session

from service.auth import db_session
from service.problems import NotFound
from service.settlements import repository as settlement_repo
from service.web.merchant.common import page, reader
from service.web.staff.identity import Staff
from service.web.staff.statements import runs_with_statements, statements_csv, statements_of

router = APIRouter(prefix="/merchant", include_in_schema=False)
RunId = Annotated[int, Path(ge=1, le=2**31 - 1)]


@router.get("/statements")
def statements(request: Request, session: Session = db_session, who: Staff = Depends(reader)):
    runs = runs_with_statements(session, who.merchant_id)
    shown = [(run, statements_of(session, run.id, merchant_id=who.merchant_id)) for run in runs]
    return page(request, session, who, "merchant/statements.html", {"runs": shown})


@router.get("/statements/{run_id}.csv")
def statement_csv(run_id: RunId, session: Session = db_session, who=Depends(reader)) -> Response:
    run = settlement_repo.get_run(session, run_id)
    found = statements_of(session, run_id, merchant_id=who.merchant_id) if run else []
    if run is None or not found:
        raise NotFound("This statement does not exist.", field="run_id")  # or is not yours
    return Response(
        statements_csv(run, found),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="statement-{run.period}.csv"'},
    )
