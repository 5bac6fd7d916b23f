"""Billing object factories: customers, invoice items, invoices and their line items.

Shapes carry the top-level keys of `stripe-fixtures3.json`.

Deliberate omissions (keys present but always null/empty, never acted on): taxes, discounts,
coupons, credit notes, shipping, subscriptions, test clocks, Connect `on_behalf_of` and
application fees, account onboarding requirements.
"""

from __future__ import annotations

from typing import Any

from .store import Store, new_id, random_token

Obj = dict[str, Any]
LINES_EMBEDDED = 10

ADDRESS_KEYS = ("city", "country", "line1", "line2", "postal_code", "state")


def address(value: Any) -> Obj | None:
    if not isinstance(value, dict):
        return None
    return {key: value.get(key) or None for key in ADDRESS_KEYS}


def sub(params: dict[str, Any], name: str) -> dict[str, Any]:
    """A nested hash parameter, or {} when absent or not a hash."""
    value = params.get(name)
    return value if isinstance(value, dict) else {}


def empty_list(url: str) -> Obj:
    return {"object": "list", "data": [], "has_more": False, "total_count": 0, "url": url}


def customer(store: Store, params: dict[str, Any], metadata: dict[str, str]) -> Obj:
    settings = sub(params, "invoice_settings")
    return {
        "id": new_id("cus"),
        "object": "customer",
        "address": address(params.get("address")),
        "balance": int(params.get("balance") or 0),
        "created": store.now(),
        "currency": None,
        "default_source": None,
        "delinquent": False,
        "description": params.get("description") or None,
        "discount": None,
        "email": params.get("email") or None,
        "invoice_prefix": params.get("invoice_prefix") or random_token(8).upper(),
        "invoice_settings": {
            "custom_fields": None,
            "default_payment_method": settings.get("default_payment_method") or None,
            "footer": settings.get("footer") or None,
            "rendering_options": None,
        },
        "livemode": False,
        "metadata": metadata,
        "name": params.get("name") or None,
        "next_invoice_sequence": 1,
        "phone": params.get("phone") or None,
        "preferred_locales": list(params.get("preferred_locales") or []),
        "shipping": None,
        "tax_exempt": params.get("tax_exempt") or "none",
        "test_clock": None,
    }


def invoiceitem(
    store: Store,
    *,
    customer_id: str,
    amount: int,
    currency: str,
    quantity: int,
    unit_amount_decimal: str,
    description: str | None,
    metadata: dict[str, str],
    period: Obj | None,
    discountable: bool,
) -> Obj:
    now = store.now()
    return {
        "id": new_id("ii"),
        "object": "invoiceitem",
        "amount": amount,
        "currency": currency,
        "customer": customer_id,
        "customer_account": None,
        "date": now,
        "description": description,
        "discountable": discountable,
        "discounts": [],
        "invoice": None,
        "livemode": False,
        "metadata": metadata,
        "net_amount": amount,
        "parent": None,
        "period": period or {"end": now, "start": now},
        "pricing": {
            "price_details": None,
            "type": None,
            "unit_amount_decimal": unit_amount_decimal,
        },
        "proration": False,
        "quantity": quantity,
        "quantity_decimal": str(quantity),
        "tax_rates": [],
        "test_clock": None,
    }


def line_item(item: Obj, invoice_id: str) -> Obj:
    return {
        "id": "il_" + item["id"].split("_", 1)[1],
        "object": "line_item",
        "amount": item["amount"],
        "currency": item["currency"],
        "description": item["description"],
        "discount_amounts": [],
        "discountable": item["discountable"],
        "discounts": [],
        "invoice": invoice_id,
        "livemode": False,
        "metadata": dict(item["metadata"]),
        "parent": {
            "invoice_item_details": {
                "invoice_item": item["id"],
                "proration": False,
                "proration_details": {"credited_items": None},
                "subscription": None,
            },
            "subscription_item_details": None,
            "type": "invoice_item_details",
        },
        "period": dict(item["period"]),
        "pretax_credit_amounts": [],
        "pricing": dict(item["pricing"]),
        "quantity": item["quantity"],
        "quantity_decimal": item["quantity_decimal"],
        "subscription": None,
        "subtotal": item["amount"],
        "taxes": [],
    }


def invoice(store: Store, cust: Obj, fields: Obj, metadata: dict[str, str]) -> Obj:
    now = store.now()
    inv_id = new_id("in")
    return {
        "id": inv_id,
        "object": "invoice",
        "account_country": "US",
        "account_name": "CLO stand-in",
        "account_tax_ids": None,
        "amount_due": 0,
        "amount_overpaid": 0,
        "amount_paid": 0,
        "amount_remaining": 0,
        "amount_shipping": 0,
        "application": None,
        "attempt_count": 0,
        "attempted": False,
        "auto_advance": fields["auto_advance"],
        "automatic_tax": {
            "disabled_reason": None,
            "enabled": False,
            "liability": None,
            "provider": None,
            "status": None,
        },
        "automatically_finalizes_at": now + 3600 if fields["auto_advance"] else None,
        "billing_reason": "manual",
        "collection_method": fields["collection_method"],
        "created": now,
        "currency": fields["currency"],
        "custom_fields": None,
        "customer": cust["id"],
        "customer_account": None,
        "customer_address": cust["address"],
        "customer_email": cust["email"],
        "customer_name": cust["name"],
        "customer_phone": cust["phone"],
        "customer_shipping": cust["shipping"],
        "customer_tax_exempt": cust["tax_exempt"],
        "customer_tax_ids": [],
        "default_payment_method": fields["default_payment_method"],
        "default_source": None,
        "default_tax_rates": [],
        "description": fields["description"],
        "discounts": [],
        "due_date": fields["due_date"],
        "effective_at": None,
        "ending_balance": None,
        "footer": fields["footer"],
        "from_invoice": None,
        "hosted_invoice_url": None,
        "invoice_pdf": None,
        "issuer": {"type": "self"},
        "last_finalization_error": None,
        "latest_revision": None,
        "lines": empty_list(f"/v1/invoices/{inv_id}/lines"),
        "livemode": False,
        "metadata": metadata,
        "next_payment_attempt": None,
        "number": None,
        "on_behalf_of": None,
        "parent": None,
        "payment_settings": {
            "default_mandate": None,
            "payment_method_options": None,
            "payment_method_types": None,
        },
        "period_end": now,
        "period_start": now,
        "post_payment_credit_notes_amount": 0,
        "pre_payment_credit_notes_amount": 0,
        "receipt_number": None,
        "rendering": None,
        "shipping_cost": None,
        "shipping_details": None,
        "starting_balance": 0,
        "statement_descriptor": fields["statement_descriptor"],
        "status": "draft",
        "status_transitions": {
            "finalized_at": None,
            "marked_uncollectible_at": None,
            "paid_at": None,
            "voided_at": None,
        },
        "subscription": None,
        "subtotal": 0,
        "subtotal_excluding_tax": 0,
        "test_clock": None,
        "total": 0,
        "total_discount_amounts": [],
        "total_excluding_tax": 0,
        "total_pretax_credit_amounts": [],
        "total_taxes": [],
        "webhooks_delivered_at": None,
    }


def invoice_lines(store: Store, inv: Obj) -> list[Obj]:
    items = [ii for ii in store.values("invoiceitem") if ii["invoice"] == inv["id"]]
    return [line_item(ii, inv["id"]) for ii in reversed(items)]  # oldest first


def refresh_invoice(store: Store, inv: Obj) -> None:
    """Recompute `lines` and the totals of a draft from the invoice items attached to it."""
    lines = invoice_lines(store, inv)
    subtotal = sum(line["amount"] for line in lines)
    inv["lines"] = {
        "object": "list",
        "data": lines[:LINES_EMBEDDED],
        "has_more": len(lines) > LINES_EMBEDDED,
        "total_count": len(lines),
        "url": f"/v1/invoices/{inv['id']}/lines",
    }
    for key in ("subtotal", "subtotal_excluding_tax", "total", "total_excluding_tax"):
        inv[key] = subtotal
    inv["amount_due"] = max(subtotal + inv["starting_balance"], 0)
    inv["amount_remaining"] = max(inv["amount_due"] - inv["amount_paid"], 0)
