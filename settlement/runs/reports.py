"""The run's own per-offer summary, used when no attribution report builder is wired in."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, select

from settlement.runs.records import RunRecord
from settlement.runs.statements import FIGURES
from settlement.runs.tables import SettlementStatementLine

_lines = SettlementStatementLine.__table__

NOTE = (
    "per-offer summary computed by the settlement run (statement figures and unique "
    "members, over what was booked in the period); the attribution and lift report "
    "(service.attribution.build_report) was not available when this run was reported"
)


def fallback_report(conn: Connection, run: RunRecord) -> dict[str, Any]:
    """The statement lines of the run, as computed (unique members included): nothing is
    read from the ledger again."""
    offers: list[dict[str, object]] = []
    for row in conn.execute(
        select(_lines).where(_lines.c.run_id == run.id).order_by(_lines.c.offer_id)
    ):
        item: dict[str, object] = {name: int(getattr(row, name)) for name in FIGURES}
        item.update(
            offer_id=row.offer_id,
            merchant_id=row.merchant_id,
            currency=row.currency,
            unique_members=int(row.unique_member_count),
        )
        offers.append(item)
    return {
        "period": run.period,
        "period_start": run.period_start.isoformat(),
        "period_end": run.period_end.isoformat(),
        "note": NOTE,
        "offers": offers,
    }
