"""The billing step: one invoice per merchant and currency, one item per offer line.

Each external object's id is stored in its own short transaction right after the call
returns; a resumed step skips what is stored and repeats a call only with the same
idempotency key (and the port finds an object created just before a crash by that key,
even after the provider has expired it).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from sqlalchemy import Engine, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from settlement.runs.ports import BillingPort, InvoiceLine
from settlement.runs.tables import MerchantInvoice, MerchantInvoiceItem, SettlementStatementLine

_invoices = MerchantInvoice.__table__
_items = MerchantInvoiceItem.__table__
_lines = SettlementStatementLine.__table__


def invoice_key(run_id: int, merchant_id: int, currency: str) -> str:
    return f"clo-run{run_id}-m{merchant_id}-{currency.lower()}"


def bill_merchants(
    engine: Engine,
    run,
    billing: BillingPort,
    now: datetime,
    checkpoint: Callable[[str], None],
) -> int:
    """Bill every planned invoice of the run; returns how many were sent now."""
    with engine.begin() as conn:
        pending = list(
            conn.execute(
                select(_invoices)
                .where(_invoices.c.run_id == run.id, _invoices.c.status.in_(["planned", "draft"]))
                .order_by(_invoices.c.merchant_id, _invoices.c.currency)
            )
        )
    sent = 0
    for invoice in pending:
        _bill_one(engine, run, invoice, billing, now, checkpoint)
        sent += 1
    return sent


def _set(engine: Engine, invoice, now: datetime, **values: object) -> None:
    with engine.begin() as conn:
        conn.execute(
            update(_invoices)
            .where(
                _invoices.c.run_id == invoice.run_id,
                _invoices.c.merchant_id == invoice.merchant_id,
                _invoices.c.currency == invoice.currency,
                _invoices.c.status != "paid",  # a webhook may have been faster
            )
            .values(updated_at=now, **values)
        )


def _bill_one(engine, run, invoice, billing: BillingPort, now, checkpoint) -> None:
    key = invoice_key(run.id, invoice.merchant_id, invoice.currency)
    customer_ref = invoice.customer_ref
    if customer_ref is None:
        customer_ref = billing.ensure_customer(
            invoice.merchant_id, idempotency_key=f"clo-customer-m{invoice.merchant_id}"
        )
        _set(engine, invoice, now, customer_ref=customer_ref)
    invoice_ref = invoice.invoice_ref
    if invoice_ref is None:
        invoice_ref = billing.create_invoice(
            customer_ref,
            currency=invoice.currency,
            description=f"Card-linked offers, settlement {run.period}",
            idempotency_key=f"{key}-invoice",
        )
        checkpoint("bill:invoice_created")
        _set(engine, invoice, now, invoice_ref=invoice_ref, status="draft")
    with engine.begin() as conn:
        done = set(
            conn.execute(
                select(_items.c.offer_id).where(
                    _items.c.run_id == run.id,
                    _items.c.merchant_id == invoice.merchant_id,
                    _items.c.currency == invoice.currency,
                )
            ).scalars()
        )
        lines = list(
            conn.execute(
                select(_lines.c.offer_id, _lines.c.net_amount, _lines.c.qualified_count)
                .where(
                    _lines.c.run_id == run.id,
                    _lines.c.merchant_id == invoice.merchant_id,
                    _lines.c.currency == invoice.currency,
                    _lines.c.net_amount != 0,
                )
                .order_by(_lines.c.offer_id)
            )
        )
    for line in lines:
        if line.offer_id in done:
            continue
        item_ref = billing.add_item(
            customer_ref,
            invoice_ref,
            InvoiceLine(
                offer_id=line.offer_id,
                amount=int(line.net_amount),
                description=(
                    f"Offer {line.offer_id}: {line.qualified_count} qualified purchases, "
                    f"{run.period}"
                ),
                idempotency_key=f"{key}-offer{line.offer_id}",
            ),
            currency=invoice.currency,
        )
        checkpoint("bill:item_added")
        with engine.begin() as conn:
            insert = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
            conn.execute(
                insert(_items)
                .on_conflict_do_nothing()
                .values(
                    run_id=run.id,
                    merchant_id=invoice.merchant_id,
                    offer_id=line.offer_id,
                    currency=invoice.currency,
                    amount=int(line.net_amount),
                    item_ref=item_ref,
                )
            )
    billing.finalize_and_send(invoice_ref, idempotency_key=f"{key}-send")
    checkpoint("bill:invoice_sent")
    _set(engine, invoice, now, status="sent")
