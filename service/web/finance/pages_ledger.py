"""The ledger explorer: accounts by owner and kind with pending and posted balances, an
account's entries with their postings, and `clo ledger check` run on demand."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from fastapi.responses import RedirectResponse
from sqlalchemy import func, select
from sqlmodel import Session

from service.auth import db_session
from service.problems import NotFound
from service.web import csrf
from service.web.finance.common import csv_response, page, reader
from service.web.staff.identity import Staff
from settlement.ledger.check import check_ledger
from settlement.ledger.slots import account_columns, account_totals
from settlement.tables import LedgerAccount, LedgerEntry, LedgerEntryResolution, LedgerPosting

router = APIRouter(prefix="/finance", include_in_schema=False)
PAGE_SIZE = 100
OWNER_TYPES = ("member", "merchant", "platform", "charity")
ACCOUNT_COLUMNS = ("id", "code", "currency", "kind", "owner_type", "owner_id", "posted_amount",
                   "pending_amount")  # fmt: skip
_a, _e, _p, _r = (
    LedgerAccount.__table__,
    LedgerEntry.__table__,
    LedgerPosting.__table__,
    LedgerEntryResolution.__table__,
)


def _accounts(
    session: Session, owner_type: str | None, kind: str | None, after_id: int, limit: int
):
    query = select(*account_columns()).where(_a.c.id > after_id).order_by(_a.c.id).limit(limit)
    if owner_type:
        query = query.where(_a.c.owner_type == owner_type)
    if kind:
        query = query.where(_a.c.kind == kind)
    return list(session.connection().execute(query))


@router.get("/ledger")
def ledger(
    request: Request,
    owner_type: Annotated[str | None, Query(max_length=16)] = None,
    kind: Annotated[str | None, Query(max_length=32)] = None,
    after_id: Annotated[int, Query(ge=0, le=2**31 - 1)] = 0,
    session: Session = db_session,
    who: Staff = Depends(reader),
):
    conn = session.connection()
    totals = conn.execute(account_totals()).all()
    kinds = sorted({row[1] for row in totals})
    owner_type = owner_type if owner_type in OWNER_TYPES else None
    kind = kind if kind in kinds else None
    rows = _accounts(session, owner_type, kind, after_id, PAGE_SIZE + 1)
    context = {
        "totals": totals,
        "kinds": kinds,
        "owner_types": OWNER_TYPES,
        "owner_type": owner_type or "",
        "kind": kind or "",
        "accounts": rows[:PAGE_SIZE],
        "next_after": rows[PAGE_SIZE - 1].id if len(rows) > PAGE_SIZE else None,
        "check": getattr(request.app.state, "ledger_check", None),
    }
    return page(request, session, who, "finance/ledger.html", context)


@router.get("/ledger/accounts.csv")
def accounts_csv(
    owner_type: Annotated[str | None, Query(max_length=16)] = None,
    kind: Annotated[str | None, Query(max_length=32)] = None,
    session: Session = db_session,
    _who: Staff = Depends(reader),
) -> Response:
    rows = _accounts(session, owner_type or None, kind or None, 0, 100_000)
    return csv_response(
        "ledger-accounts.csv",
        ACCOUNT_COLUMNS,
        ([getattr(r, c) for c in ACCOUNT_COLUMNS] for r in rows),
    )


@router.post("/ledger/check", dependencies=[Depends(csrf.require_csrf)])
def run_check(request: Request, session: Session = db_session, _who: Staff = Depends(reader)):
    """The same check as `clo ledger check`; its result and time are kept for the page."""
    report = check_ledger(session.connection())
    request.app.state.ledger_check = {"at": datetime.now(UTC), "report": report}
    return RedirectResponse("/finance/ledger#check", status_code=303)


@router.get("/ledger/accounts/{account_id}")
def account(
    request: Request,
    account_id: Annotated[int, Path(ge=1, le=2**31 - 1)],
    session: Session = db_session,
    who: Staff = Depends(reader),
):
    conn = session.connection()
    found = conn.execute(select(*account_columns()).where(_a.c.id == account_id)).first()
    if found is None:
        raise NotFound("This account does not exist.", field="account_id")
    entry_ids = [
        row[0]
        for row in conn.execute(
            select(_p.c.entry_id).where(_p.c.account_id == account_id)
            .order_by(_p.c.entry_id.desc()).limit(PAGE_SIZE)
        )
    ]  # fmt: skip
    entries = conn.execute(
        select(_e, func.coalesce(_r.c.status, _e.c.initial_status).label("status"))
        .outerjoin(_r, _r.c.entry_id == _e.c.id)
        .where(_e.c.id.in_(entry_ids))
        .order_by(_e.c.id.desc())
    ).all()
    postings: dict[int, list] = {}
    for row in conn.execute(
        select(_p, _a.c.code)
        .join(_a, _a.c.id == _p.c.account_id)
        .where(_p.c.entry_id.in_(entry_ids))
    ):
        postings.setdefault(row.entry_id, []).append(row)
    context = {"account": found, "entries": entries, "postings": postings}
    return page(request, session, who, "finance/account.html", context)
