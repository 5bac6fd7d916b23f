"""Attribution and lift per offer and period, across all merchants: the settled run's
report (what the run stored), the lift of each offer with a control group drawn as its 95%
interval (the same chart the merchant sees), and the report as CSV."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse
from sqlmodel import Session, col

from matching.money import currency_exponent
from service.auth import db_session
from service.tables import Merchant
from service.web.finance import runs
from service.web.finance.common import csv_response, page, reader
from service.web.staff.identity import Staff

router = APIRouter(prefix="/finance", include_in_schema=False)
CSV_COLUMNS = (
    "offer_id", "merchant_id", "title", "currency", "activations", "qualified_events",
    "spend_amount", "net_spend_amount", "cashback_amount", "commission_amount",
    "unique_members", "new_members", "returning_members", "conversion_bps",
    "return_on_spend_bps", "refund_count", "refund_amount",
)  # fmt: skip
LIFT_COLUMNS = ("holdout_bps", "lift_per_member_amount", "ci_low_amount", "ci_high_amount")


def _chosen(session: Session, run_id: int | None):
    reported = [r for r in runs.list_runs(session, limit=60) if r.status in ("reported", "closed")]
    run = reported[0] if reported else None
    if run_id is not None:
        run = runs.get_run(session, run_id)
    rows = runs.report_rows(session, run.id) if run is not None else []
    rows.sort(key=lambda r: (-int(r.get("spend_amount") or 0), r.get("offer_id") or 0))
    return run, reported, rows


def lift_of(row: dict) -> dict | None:
    holdout = row.get("holdout") or {}
    return holdout.get("lift")


@router.get("/attribution")
def attribution(
    request: Request,
    run_id: Annotated[int | None, Query(ge=1, le=2**31 - 1)] = None,
    session: Session = db_session,
    who: Staff = Depends(reader),
):
    run, reported, rows = _chosen(session, run_id)
    ids = {r["merchant_id"] for r in rows}
    names = {m.id: m.brand_name for m in session.query(Merchant).filter(col(Merchant.id).in_(ids))}
    context = {
        "run": run,
        "reported": reported,
        "rows": rows,
        "names": names,
        "with_lift": [r for r in rows if lift_of(r)],
        "lift_of": lift_of,
    }
    return page(request, session, who, "finance/attribution.html", context)


@router.get("/attribution/{run_id}.json")
def attribution_json(run_id: int, session: Session = db_session, _w: Staff = Depends(reader)):
    """The lifts the chart draws: every offer with a control group, in minor units."""
    _, _, rows = _chosen(session, run_id)
    ids = {r["merchant_id"] for r in rows}
    names = {m.id: m.brand_name for m in session.query(Merchant).filter(col(Merchant.id).in_(ids))}
    lifts = []
    for row in rows:
        lift = lift_of(row)
        if lift:
            lifts.append({
                "label": f"{names.get(row['merchant_id'], '')}: {row['title']}",
                "lift_per_member": lift["lift_per_member"],
                "ci_low": lift["ci_low"],
                "ci_high": lift["ci_high"],
            })  # fmt: skip
    currency = rows[0]["currency"] if rows else "USD"
    return JSONResponse(
        {"currency": currency, "exponent": currency_exponent(currency), "lifts": lifts}
    )


@router.get("/attribution/{run_id}.csv")
def attribution_csv(run_id: int, session: Session = db_session, _w: Staff = Depends(reader)):
    run, _, rows = _chosen(session, run_id)
    assert run is not None

    def line(row: dict) -> list:
        lift = lift_of(row) or {}
        holdout = row.get("holdout") or {}
        extra = [holdout.get("holdout_bps")] + [lift.get(c) for c in LIFT_COLUMNS[1:]]
        return [row.get(c) for c in CSV_COLUMNS] + extra

    return csv_response(
        f"attribution-{run.period}.csv", (*CSV_COLUMNS, *LIFT_COLUMNS), map(line, rows)
    )
