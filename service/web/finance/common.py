"""What every finance console page shares: role checks, sections, layout, CSV responses."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from typing import Any

from fastapi import Request, Response
from fastapi.responses import HTMLResponse
from sqlmodel import Session

from service.web.i18n import N_
from service.web.staff.identity import Staff, signed_in, with_role
from service.web.staff.statements import csv_cell
from service.web.templating import render

SIDE = "finance"
TITLE = N_("Finance console")
reader = signed_in(SIDE)  # reviewers and approvers read everything
approver = with_role(SIDE, "approver")  # only an approver decides on a run

NAV = [
    ("/finance", N_("Settlement runs")),
    ("/finance/ledger", N_("Ledger")),
    ("/finance/attribution", N_("Attribution")),
]


def page(
    request: Request,
    session: Session,
    who: Staff,
    template: str,
    context: dict[str, Any] | None = None,
    status: int = 200,
) -> HTMLResponse:
    values = {"who": who, "side": SIDE, "side_title": TITLE, "nav": NAV, **(context or {})}
    return render(request, template, values, status)


def csv_response(filename: str, header: Sequence[str], rows: Iterable[Sequence[Any]]) -> Response:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    for row in rows:
        writer.writerow([csv_cell(v) for v in row])
    return Response(
        out.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )
