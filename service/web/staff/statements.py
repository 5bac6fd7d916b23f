"""Statements as both staff sides show them: per merchant and offer, reconciled against the
ledger's receivable movement for the period, with the merchant's invoice and its Stripe state.

A merchant user passes its own `merchant_id` and sees nothing of any other merchant."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlmodel import Session, col

from service.settlements.service import CSV_COLUMNS
from service.tables import Merchant, Offer
from settlement.runs.statements import FIGURES, line_kinds
from settlement.runs.tables import (
    MerchantInvoice,
    SettlementRun,
    SettlementStatement,
    SettlementStatementLine,
)

_st, _lines, _inv = (
    SettlementStatement.__table__,
    SettlementStatementLine.__table__,
    MerchantInvoice.__table__,
)
MAX_STATEMENTS = 500  # per page; finance filters by merchant beyond this


@dataclass
class Statement:
    run_id: int
    merchant_id: int
    merchant_name: str
    currency: str
    figures: dict
    lines: list[dict] = field(default_factory=list)
    invoice: dict | None = None

    @property
    def difference_amount(self) -> int:
        """Net billed less payments, against the receivable's movement: always zero."""
        f = self.figures
        return f["net_amount"] - f["payments_amount"] + f["receivable_movement_amount"]


def statements_of(
    session: Session, run_id: int, *, merchant_id: int | None = None
) -> list[Statement]:
    conn = session.connection()
    query = select(_st).where(_st.c.run_id == run_id)
    lines_query = select(_lines).where(_lines.c.run_id == run_id)
    invoices_query = select(_inv).where(_inv.c.run_id == run_id)
    if merchant_id is not None:
        query = query.where(_st.c.merchant_id == merchant_id)
        lines_query = lines_query.where(_lines.c.merchant_id == merchant_id)
        invoices_query = invoices_query.where(_inv.c.merchant_id == merchant_id)
    rows = conn.execute(query.order_by(_st.c.merchant_id).limit(MAX_STATEMENTS)).all()
    merchant_ids = {r.merchant_id for r in rows}
    names = dict(
        conn.execute(
            select(col(Merchant.id), col(Merchant.brand_name)).where(
                col(Merchant.id).in_(merchant_ids)
            )
        )
        .tuples()
        .all()
    )
    out = {
        (r.merchant_id, r.currency): Statement(
            run_id, r.merchant_id, names.get(r.merchant_id, f"#{r.merchant_id}"), r.currency,
            {k: v for k, v in r._mapping.items() if k not in ("run_id", "merchant_id", "currency")},
        )
        for r in rows
    }  # fmt: skip
    line_rows = conn.execute(lines_query.where(_lines.c.merchant_id.in_(merchant_ids))).all()
    titles = dict(
        conn.execute(
            select(col(Offer.id), col(Offer.title)).where(
                col(Offer.id).in_({r.offer_id for r in line_rows})
            )
        )
        .tuples()
        .all()
    )
    for line in line_rows:
        statement = out.get((line.merchant_id, line.currency))
        if statement is not None:
            values = dict(line._mapping)
            values["title"] = titles.get(line.offer_id, f"#{line.offer_id}")
            values["kinds"] = line_kinds(values)
            statement.lines.append(values)
    for invoice in conn.execute(invoices_query.where(_inv.c.merchant_id.in_(merchant_ids))):
        statement = out.get((invoice.merchant_id, invoice.currency))
        if statement is not None:
            statement.invoice = dict(invoice._mapping)
    return list(out.values())


def statements_csv(run: SettlementRun, statements: list[Statement]) -> str:
    """Statement lines as the API's CSV, for the statements shown (a merchant's own only)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for statement in statements:
        for line in statement.lines:
            for kind, figures in line_kinds(line):
                writer.writerow(
                    [run.id, run.period, line["merchant_id"], line["offer_id"], line["currency"]]
                    + [figures[name] for name in FIGURES]
                    + [kind]
                )
    return out.getvalue()


def runs_with_statements(session: Session, merchant_id: int, *, limit: int = 52) -> list:
    """A merchant's settled periods, newest first."""
    return list(
        session.connection().execute(
            select(SettlementRun.__table__)
            .where(
                col(SettlementRun.id).in_(
                    select(_st.c.run_id).where(_st.c.merchant_id == merchant_id)
                )
            )
            .order_by(col(SettlementRun.period_start).desc())
            .limit(limit)
        )
    )


def csv_cell(value: object) -> object:
    """A cell a spreadsheet will not run as a formula."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value
