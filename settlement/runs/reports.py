"""The run's own per-offer summary, used when no attribution report builder is wired in."""

from __future__ import annotations

from sqlalchemy import Connection, func, select

from settlement.runs.statements import FIGURES
from settlement.runs.tables import SettlementStatementLine
from settlement.tables import LedgerEntry, LedgerEntryResolution

_lines = SettlementStatementLine.__table__
_e = LedgerEntry.__table__
_r = LedgerEntryResolution.__table__

NOTE = (
    "per-offer summary computed by the settlement run (statement figures and unique "
    "members); the attribution and lift report (service.attribution.build_report) was not "
    "available when this run was reported"
)


def fallback_report(conn: Connection, run) -> dict:
    status = func.coalesce(_r.c.status, _e.c.initial_status)
    members = dict(
        conn.execute(
            select(_e.c.offer_id, func.count(func.distinct(_e.c.member_id)))
            .select_from(_e.outerjoin(_r, _r.c.entry_id == _e.c.id))
            .where(
                _e.c.effective_at >= run.period_start,
                _e.c.effective_at < run.period_end,
                _e.c.kind == "accrual",
                status == "posted",
                _e.c.offer_id.is_not(None),
            )
            .group_by(_e.c.offer_id)
        ).all()
    )
    offers = []
    for row in conn.execute(
        select(_lines).where(_lines.c.run_id == run.id).order_by(_lines.c.offer_id)
    ):
        item = {name: int(getattr(row, name)) for name in FIGURES}
        item.update(
            offer_id=row.offer_id,
            merchant_id=row.merchant_id,
            currency=row.currency,
            unique_members=int(members.get(row.offer_id, 0)),
        )
        offers.append(item)
    return {
        "period": run.period,
        "period_start": run.period_start.isoformat(),
        "period_end": run.period_end.isoformat(),
        "note": NOTE,
        "offers": offers,
    }
