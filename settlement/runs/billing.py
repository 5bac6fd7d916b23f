"""The billing step: one invoice per merchant and currency, one item per offer line.

The provider is called object by object, and the ids it returns are stored a batch at a time
in short transactions, in three phases: customers and draft invoices, then invoice items,
then sending. A resumed step skips what is stored and repeats a call only with the same
idempotency key; the port finds an object created before a crash by that key (stored in the
object's metadata), even after the provider has expired it, so nothing is billed twice.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import BindParameter, Engine, bindparam, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from settlement.runs.ports import BillingPort, InvoiceLine
from settlement.runs.records import AnyRow, RunRecord
from settlement.runs.tables import (
    MerchantCredit,
    MerchantInvoice,
    MerchantInvoiceItem,
    SettlementStatementLine,
)

_invoices = MerchantInvoice.__table__
_items = MerchantInvoiceItem.__table__
_lines = SettlementStatementLine.__table__
_credits = MerchantCredit.__table__
WRITE_BATCH = 100  # provider objects whose ids are stored in one transaction
Party = tuple[int, str]  # merchant, currency: one invoice each
Refs = dict[Party, tuple[str, str]]  # the party's (customer_ref, invoice_ref)
Params = dict[str, Any]  # one parameter set of an executemany


def invoice_key(run_id: int, merchant_id: int, currency: str) -> str:
    return f"clo-run{run_id}-m{merchant_id}-{currency.lower()}"


def bill_merchants(
    engine: Engine,
    run: RunRecord,
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
    if not pending:
        return 0
    refs = _create_invoices(engine, run, pending, billing, now, checkpoint)
    _add_items(engine, run, pending, refs, billing, checkpoint)
    sent: list[Params] = []
    for invoice in pending:
        key = invoice_key(run.id, invoice.merchant_id, invoice.currency)
        billing.finalize_and_send(refs[_party(invoice)][1], idempotency_key=f"{key}-send")
        checkpoint("bill:invoice_sent")
        sent.append({**_where(invoice), "b_status": "sent"})
        if len(sent) >= WRITE_BATCH:
            _update(engine, sent, now)
            sent = []
    _update(engine, sent, now)
    return len(pending)


def credit_key(run_id: int, merchant_id: int, currency: str) -> str:
    return f"clo-run{run_id}-m{merchant_id}-{currency.lower()}-credit"


def grant_credits(
    engine: Engine,
    run: RunRecord,
    billing: BillingPort,
    now: datetime,
    checkpoint: Callable[[str], None],
) -> int:
    """Grant every planned credit of the run (a merchant whose period netted negative) on
    its provider balance, one call each with a key derived from run and merchant; returns
    how many were granted now."""
    with engine.begin() as conn:
        planned = list(
            conn.execute(
                select(_credits)
                .where(_credits.c.run_id == run.id, _credits.c.status == "planned")
                .order_by(_credits.c.merchant_id, _credits.c.currency)
            )
        )
    for credit in planned:
        customer_ref = credit.customer_ref or billing.ensure_customer(
            credit.merchant_id, idempotency_key=f"clo-customer-m{credit.merchant_id}"
        )
        ref = billing.credit_balance(
            customer_ref,
            amount=int(credit.amount),
            currency=credit.currency,
            description=f"Credit: refunds exceeded charges in settlement {run.period}",
            idempotency_key=credit_key(run.id, credit.merchant_id, credit.currency),
        )
        checkpoint("bill:credit_granted")
        with engine.begin() as conn:
            conn.execute(
                update(_credits)
                .where(
                    _credits.c.run_id == run.id,
                    _credits.c.merchant_id == credit.merchant_id,
                    _credits.c.currency == credit.currency,
                )
                .values(
                    status="granted",
                    customer_ref=customer_ref,
                    balance_transaction_ref=ref,
                    updated_at=now,
                )
            )
    return len(planned)


def _party(invoice: AnyRow) -> Party:
    return (invoice.merchant_id, invoice.currency)


def _where(invoice: AnyRow) -> Params:
    return {"b_run": invoice.run_id, "b_merchant": invoice.merchant_id, "b_cur": invoice.currency}


def _update(engine: Engine, rows: list[Params], now: datetime) -> None:
    """Store ids and statuses of a batch of invoices; an invoice already paid (a webhook may
    have been faster) keeps its status."""
    if not rows:
        return
    columns = [name for name in ("status", "customer_ref", "invoice_ref") if f"b_{name}" in rows[0]]
    values: dict[str, BindParameter[Any]] = {name: bindparam(f"b_{name}") for name in columns}
    with engine.begin() as conn:
        conn.execute(
            update(_invoices)
            .where(
                _invoices.c.run_id == bindparam("b_run"),
                _invoices.c.merchant_id == bindparam("b_merchant"),
                _invoices.c.currency == bindparam("b_cur"),
                _invoices.c.status != "paid",
            )
            .values(updated_at=now, **values),
            rows,
        )


def _create_invoices(
    engine: Engine,
    run: RunRecord,
    pending: Sequence[AnyRow],
    billing: BillingPort,
    now: datetime,
    checkpoint: Callable[[str], None],
) -> Refs:
    """The customer and draft invoice of every invoice: (customer_ref, invoice_ref)."""
    refs: Refs = {}
    created: list[Params] = []
    for invoice in pending:
        customer_ref, invoice_ref = invoice.customer_ref, invoice.invoice_ref
        if customer_ref is None:
            customer_ref = billing.ensure_customer(
                invoice.merchant_id, idempotency_key=f"clo-customer-m{invoice.merchant_id}"
            )
        if invoice_ref is None:
            key = invoice_key(run.id, invoice.merchant_id, invoice.currency)
            invoice_ref = billing.create_invoice(
                customer_ref,
                currency=invoice.currency,
                description=f"Card-linked offers, settlement {run.period}",
                idempotency_key=f"{key}-invoice",
            )
            checkpoint("bill:invoice_created")
            created.append(
                {
                    **_where(invoice),
                    "b_customer_ref": customer_ref,
                    "b_invoice_ref": invoice_ref,
                    "b_status": "draft",
                }
            )
            if len(created) >= WRITE_BATCH:
                _update(engine, created, now)
                created = []
        refs[_party(invoice)] = (customer_ref, invoice_ref)
    _update(engine, created, now)
    return refs


def _add_items(
    engine: Engine,
    run: RunRecord,
    pending: Sequence[AnyRow],
    refs: Refs,
    billing: BillingPort,
    checkpoint: Callable[[str], None],
) -> None:
    """An item per non-zero offer line, skipping the items already stored."""
    parties = {_party(invoice) for invoice in pending}
    with engine.begin() as conn:
        done = {
            (row.merchant_id, row.currency, row.offer_id)
            for row in conn.execute(
                select(_items.c.merchant_id, _items.c.currency, _items.c.offer_id).where(
                    _items.c.run_id == run.id
                )
            )
        }
        lines = [
            line
            for line in conn.execute(
                select(
                    _lines.c.merchant_id,
                    _lines.c.currency,
                    _lines.c.offer_id,
                    _lines.c.net_amount,
                    _lines.c.qualified_count,
                )
                .where(_lines.c.run_id == run.id, _lines.c.net_amount != 0)
                .order_by(_lines.c.merchant_id, _lines.c.currency, _lines.c.offer_id)
            )
            if (line.merchant_id, line.currency) in parties
            and (line.merchant_id, line.currency, line.offer_id) not in done
        ]
    stored: list[Params] = []
    for line in lines:
        customer_ref, invoice_ref = refs[(line.merchant_id, line.currency)]
        key = invoice_key(run.id, line.merchant_id, line.currency)
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
            currency=line.currency,
        )
        checkpoint("bill:item_added")
        stored.append(
            {
                "run_id": run.id,
                "merchant_id": line.merchant_id,
                "offer_id": line.offer_id,
                "currency": line.currency,
                "amount": int(line.net_amount),
                "item_ref": item_ref,
            }
        )
        if len(stored) >= WRITE_BATCH:
            _store_items(engine, stored)
            stored = []
    _store_items(engine, stored)


def _store_items(engine: Engine, rows: list[Params]) -> None:
    if not rows:
        return
    with engine.begin() as conn:
        insert = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
        conn.execute(insert(_items).on_conflict_do_nothing(), rows)
