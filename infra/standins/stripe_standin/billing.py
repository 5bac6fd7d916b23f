"""Customers, invoice items and invoices (draft → open → paid | void)."""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation
from typing import Any

from . import errors, forms, listing, objects, payments
from .routes import LIST_PARAMS, Route, names
from .store import RequestContext, Store, commit, snapshot

Obj = dict[str, Any]
Params = dict[str, Any]

CUSTOMER_FIELDS = names("description email invoice_prefix name phone tax_exempt")
CUSTOMER_WRITE = CUSTOMER_FIELDS | names(
    "address balance business_name cash_balance default_source individual_name invoice_settings "
    "metadata next_invoice_sequence preferred_locales shipping source tax tax_id_data test_clock "
    "validate"
)
COLLECTION_METHODS = ("charge_automatically", "send_invoice")
ITEM_LIST_FILTERS = names("customer customer_account invoice pending")


def _changed(obj: Obj, before: Obj) -> dict[str, Any]:
    return {key: value for key, value in before.items() if obj.get(key) != value}


# ---- customers ----------------------------------------------------------------------------


def create_customer(store: Store, ctx: RequestContext, p: Params) -> Obj:
    for key in CUSTOMER_FIELDS:
        forms.opt_str(p, key)
    forms.opt_int(p, "balance")
    forms.opt_list(p, "preferred_locales")
    cust = objects.customer(store, p, forms.metadata(p))
    pm_value = forms.opt_str(p, "payment_method")
    pm = None
    if pm_value:
        pm = payments.resolve_payment_method(store, ctx, pm_value, "payment_method")
    if pm is not None and pm["customer"] is not None:
        raise errors.invalid(
            "The payment method you provided has already been attached to a customer.",
            param="payment_method",
        )
    store.insert(cust)
    store.emit("customer.created", cust, ctx)
    if pm is not None:
        payments.attach(store, ctx, pm, cust)
    return cust


def update_customer(store: Store, ctx: RequestContext, p: Params, cus_id: str) -> Obj:
    before = store.require("customer", cus_id)
    cust = snapshot(before)
    for key in CUSTOMER_FIELDS & p.keys():
        cust[key] = forms.opt_str(p, key) or {"tax_exempt": "none"}.get(key)
    if not cust["invoice_prefix"]:
        raise errors.invalid("invoice_prefix cannot be empty.", param="invoice_prefix")
    if "address" in p:
        cust["address"] = objects.address(p["address"])
    if "preferred_locales" in p:
        cust["preferred_locales"] = forms.opt_list(p, "preferred_locales") or []
    if "next_invoice_sequence" in p:
        cust["next_invoice_sequence"] = forms.opt_int(p, "next_invoice_sequence", minimum=1)
    settings = forms.opt_dict(p, "invoice_settings") or {}
    if "default_payment_method" in settings:
        pm_id = settings["default_payment_method"] or None
        if pm_id:
            pm = store.get("payment_method", pm_id)
            if pm is None or pm["customer"] != cust["id"]:
                raise errors.invalid(
                    f"The customer does not have a payment method with the ID {pm_id}. The "
                    "payment method must be attached to the customer.",
                    param="invoice_settings[default_payment_method]",
                )
        cust["invoice_settings"] = {**cust["invoice_settings"], "default_payment_method": pm_id}
    cust["metadata"] = forms.metadata(p, cust["metadata"])
    previous = _changed(cust, before)
    cust = commit(before, cust)
    if previous:
        store.emit("customer.updated", cust, ctx, previous_attributes=previous)
    return cust


def delete_customer(store: Store, ctx: RequestContext, p: Params, cus_id: str) -> Obj:
    cust = store.require("customer", cus_id)
    store.remove("customer", cus_id)
    store.emit("customer.deleted", cust, ctx)
    return {"id": cus_id, "object": "customer", "deleted": True}


def retrieve_customer(store: Store, ctx: RequestContext, p: Params, cus_id: str) -> Obj:
    return store.require("customer", cus_id)


def list_customers(store: Store, ctx: RequestContext, p: Params) -> Obj:
    items = store.values("customer")
    email = forms.opt_str(p, "email")
    if email is not None:
        items = [c for c in items if c["email"] == email]
    return listing.list_object(listing.created_filter(items, p), p, "/v1/customers")


def search_customers(store: Store, ctx: RequestContext, p: Params) -> Obj:
    return listing.search_result(store.values("customer"), p, "/v1/customers/search")


# ---- invoice items ------------------------------------------------------------------------


def _amount(p: Params, quantity: int) -> tuple[int, str]:
    if p.get("pricing") or p.get("price_data"):
        raise errors.invalid(
            "The stand-in supports amount-based invoice items only (use `amount` or "
            "`unit_amount_decimal`), not prices.",
            param="pricing" if p.get("pricing") else "price_data",
        )
    amount = forms.opt_int(p, "amount")
    if amount is not None:
        return amount, str(Decimal(amount) / quantity) if quantity else "0"
    unit = forms.opt_str(p, "unit_amount_decimal")
    if unit is None:
        raise errors.missing("amount")
    try:
        total = (Decimal(unit) * quantity).quantize(Decimal(1), rounding=ROUND_HALF_EVEN)
    except InvalidOperation:
        raise errors.invalid(f"Invalid decimal: {unit}", param="unit_amount_decimal") from None
    return int(total), unit


def _attach_item(store: Store, item: Obj, inv_id: str) -> Obj:
    inv = store.require("invoice", inv_id, param="invoice", status=400)
    if inv["customer"] != item["customer"]:
        raise errors.invalid(f"The invoice {inv_id} belongs to another customer.", param="invoice")
    if inv["status"] != "draft":
        raise errors.invalid(
            f"You can only add invoice items to draft invoices; {inv_id} is {inv['status']}.",
            param="invoice",
        )
    if inv["currency"] != item["currency"]:
        raise errors.invalid(
            f"The currency of the invoice item ({item['currency']}) must match the currency "
            f"of the invoice ({inv['currency']}).",
            param="currency",
        )
    item["invoice"] = inv_id
    return inv


def create_invoiceitem(store: Store, ctx: RequestContext, p: Params) -> Obj:
    cust = store.require("customer", forms.req_str(p, "customer"), param="customer", status=400)
    quantity = forms.opt_int(p, "quantity", 1, minimum=0)
    assert quantity is not None
    amount, unit = _amount(p, quantity)
    inv_id = forms.opt_str(p, "invoice")
    inv = store.get("invoice", inv_id) if inv_id else None
    default_currency = cust["currency"] or (inv["currency"] if inv else None) or "usd"
    period = forms.opt_dict(p, "period")
    item = objects.invoiceitem(
        store,
        customer_id=cust["id"],
        amount=amount,
        currency=forms.currency(p, default=default_currency) or "usd",
        quantity=quantity,
        unit_amount_decimal=unit,
        description=forms.opt_str(p, "description"),
        metadata=forms.metadata(p),
        period={"start": forms.opt_int(period, "start"), "end": forms.opt_int(period, "end")}
        if period
        else None,
        discountable=bool(forms.opt_bool(p, "discountable", True)),
    )
    target = _attach_item(store, item, inv_id) if inv_id else None
    if cust["currency"] is None:
        cust["currency"] = item["currency"]
    store.insert(item)
    if target is not None:
        objects.refresh_invoice(store, target)
    store.emit("invoiceitem.created", item, ctx)
    return item


def _editable_item(store: Store, ii_id: str) -> Obj:
    item = store.require("invoiceitem", ii_id)
    inv = store.get("invoice", item["invoice"]) if item["invoice"] else None
    if inv is not None and inv["status"] != "draft":
        raise errors.state_error(
            f"You can't modify or delete an invoice item attached to a finalized invoice "
            f"({inv['id']})."
        )
    return item


def update_invoiceitem(store: Store, ctx: RequestContext, p: Params, ii_id: str) -> Obj:
    original = store.require("invoiceitem", ii_id)
    item = snapshot(original)
    if p.keys() - {"metadata", "expand"}:
        _editable_item(store, ii_id)
        quantity = forms.opt_int(p, "quantity", item["quantity"], minimum=0)
        assert quantity is not None
        if "amount" in p or "unit_amount_decimal" in p:
            item["amount"], item["pricing"]["unit_amount_decimal"] = _amount(p, quantity)
            item["net_amount"] = item["amount"]
        item["quantity"], item["quantity_decimal"] = quantity, str(quantity)
        if "description" in p:
            item["description"] = forms.opt_str(p, "description")
        item["discountable"] = bool(forms.opt_bool(p, "discountable", item["discountable"]))
    item["metadata"] = forms.metadata(p, item["metadata"])
    item = commit(original, item)
    inv = store.get("invoice", item["invoice"]) if item["invoice"] else None
    if inv is not None and inv["status"] == "draft":
        objects.refresh_invoice(store, inv)
    return item


def delete_invoiceitem(store: Store, ctx: RequestContext, p: Params, ii_id: str) -> Obj:
    item = _editable_item(store, ii_id)
    store.remove("invoiceitem", ii_id)
    if item["invoice"] and (inv := store.get("invoice", item["invoice"])) is not None:
        objects.refresh_invoice(store, inv)
    return {"id": ii_id, "object": "invoiceitem", "deleted": True}


def retrieve_invoiceitem(store: Store, ctx: RequestContext, p: Params, ii_id: str) -> Obj:
    return store.require("invoiceitem", ii_id)


def list_invoiceitems(store: Store, ctx: RequestContext, p: Params) -> Obj:
    items = store.values("invoiceitem")
    for key in ("customer", "invoice"):
        if (value := forms.opt_str(p, key)) is not None:
            items = [i for i in items if i[key] == value]
    pending = forms.opt_bool(p, "pending")
    if pending is not None:
        items = [i for i in items if (i["invoice"] is None) == pending]
    return listing.list_object(listing.created_filter(items, p), p, "/v1/invoiceitems")


# ---- invoices -----------------------------------------------------------------------------

INVOICE_WRITE = names(
    "account_tax_ids application_fee_amount auto_advance automatic_tax automatically_finalizes_at "
    "collection_method currency custom_fields customer customer_account days_until_due "
    "default_payment_method default_source default_tax_rates description discounts due_date "
    "effective_at footer from_invoice issuer metadata number on_behalf_of payment_settings "
    "pending_invoice_items_behavior rendering shipping_cost shipping_details "
    "statement_descriptor subscription transfer_data"
)


def _due_date(store: Store, p: Params, collection: str | None) -> int | None:
    days = forms.opt_int(p, "days_until_due", minimum=0)
    due = forms.opt_int(p, "due_date")
    if collection == "send_invoice" and days is None and due is None:
        raise errors.invalid(
            "Invoices with `collection_method=send_invoice` need `days_until_due` or `due_date`.",
            param="days_until_due",
        )
    if collection == "charge_automatically" and (days is not None or due is not None):
        raise errors.invalid(
            "You can only set `days_until_due` or `due_date` when `collection_method` is "
            "`send_invoice`.",
            param="days_until_due" if days is not None else "due_date",
        )
    return due if due is not None else (store.now() + days * 86400 if days is not None else None)


def require_email(cust: Obj) -> None:
    """Stripe emails a `send_invoice` invoice, so its customer needs an email address."""
    if not cust.get("email"):
        raise errors.invalid(
            "Missing email. In order to create invoices that are sent to the customer, the "
            "customer must have a valid email.",
            param="customer",
        )


def create_invoice(store: Store, ctx: RequestContext, p: Params) -> Obj:
    cust = store.require("customer", forms.req_str(p, "customer"), param="customer", status=400)
    collection = forms.opt_enum(p, "collection_method", COLLECTION_METHODS, "charge_automatically")
    behavior = forms.opt_enum(
        p, "pending_invoice_items_behavior", ("include", "exclude"), "exclude"
    )
    pending = [i for i in reversed(store.values("invoiceitem")) if i["customer"] == cust["id"]]
    pending = [i for i in pending if i["invoice"] is None]
    fallback = pending[0]["currency"] if pending and behavior == "include" else "usd"
    currency = forms.currency(p, default=cust["currency"] or fallback)
    if collection == "send_invoice":
        require_email(cust)
    default_pm = forms.opt_str(p, "default_payment_method")
    if default_pm:
        store.require("payment_method", default_pm, param="default_payment_method", status=400)
    fields = {
        "auto_advance": bool(forms.opt_bool(p, "auto_advance", False)),
        "collection_method": collection,
        "currency": currency,
        "default_payment_method": default_pm,
        "description": forms.opt_str(p, "description"),
        "due_date": _due_date(store, p, collection),
        "footer": forms.opt_str(p, "footer"),
        "statement_descriptor": forms.opt_str(p, "statement_descriptor"),
    }
    inv = store.insert(objects.invoice(store, cust, fields, forms.metadata(p)))
    if behavior == "include":
        for item in pending:
            if item["currency"] == currency:
                item["invoice"] = inv["id"]
    objects.refresh_invoice(store, inv)
    store.emit("invoice.created", inv, ctx)
    return inv


def update_invoice(store: Store, ctx: RequestContext, p: Params, in_id: str) -> Obj:
    before = store.require("invoice", in_id)
    inv = snapshot(before)
    anytime = {"metadata", "description", "footer", "auto_advance", "default_payment_method"}
    if inv["status"] != "draft" and p.keys() - anytime - {"expand"}:
        raise errors.state_error(
            f"You can only update {', '.join(sorted(anytime))} on a finalized invoice."
        )
    for key in ("description", "footer", "statement_descriptor", "default_payment_method"):
        if key in p:
            inv[key] = forms.opt_str(p, key)
    inv["auto_advance"] = bool(forms.opt_bool(p, "auto_advance", inv["auto_advance"]))
    if "collection_method" in p or "days_until_due" in p or "due_date" in p:
        inv["collection_method"] = forms.opt_enum(
            p, "collection_method", COLLECTION_METHODS, inv["collection_method"]
        )
        inv["due_date"] = _due_date(store, p, inv["collection_method"])
    inv["metadata"] = forms.metadata(p, inv["metadata"])
    previous = _changed(inv, before)
    inv = commit(before, inv)
    if previous:
        store.emit("invoice.updated", inv, ctx, previous_attributes=previous)
    return inv


def delete_invoice(store: Store, ctx: RequestContext, p: Params, in_id: str) -> Obj:
    inv = store.require("invoice", in_id)
    if inv["status"] != "draft":
        raise errors.state_error("You can only delete draft invoices.")
    for item in store.values("invoiceitem"):
        if item["invoice"] == in_id:
            item["invoice"] = None  # back to pending, as on Stripe
    store.remove("invoice", in_id)
    store.emit("invoice.deleted", inv, ctx)
    return {"id": in_id, "object": "invoice", "deleted": True}


def retrieve_invoice(store: Store, ctx: RequestContext, p: Params, in_id: str) -> Obj:
    return store.require("invoice", in_id)


def list_invoices(store: Store, ctx: RequestContext, p: Params) -> Obj:
    items = store.values("invoice")
    for key in ("customer", "status", "collection_method"):
        if (value := forms.opt_str(p, key)) is not None:
            items = [i for i in items if i[key] == value]
    return listing.list_object(listing.created_filter(items, p), p, "/v1/invoices")


def search_invoices(store: Store, ctx: RequestContext, p: Params) -> Obj:
    return listing.search_result(store.values("invoice"), p, "/v1/invoices/search")


def list_invoice_lines(store: Store, ctx: RequestContext, p: Params, in_id: str) -> Obj:
    inv = store.require("invoice", in_id)
    lines = list(reversed(objects.invoice_lines(store, inv)))  # newest first, like every list
    return listing.list_object(lines, p, f"/v1/invoices/{in_id}/lines")


CUSTOMER_LIST = LIST_PARAMS | names("email test_clock")
ITEM_WRITE = names(
    "amount description discountable discounts metadata period price_data pricing quantity "
    "quantity_decimal tax_behavior tax_code tax_rates unit_amount_decimal"
)
ITEM_CREATE = ITEM_WRITE | names("currency customer customer_account invoice subscription")
INVOICE_LIST = LIST_PARAMS | names(
    "collection_method customer customer_account due_date status subscription"
)
SEARCH = names("limit page query")

ROUTES = [
    Route("POST", "/v1/customers", create_customer, CUSTOMER_WRITE | names("payment_method")),
    Route("GET", "/v1/customers", list_customers, CUSTOMER_LIST),
    Route("GET", "/v1/customers/search", search_customers, SEARCH),
    Route("GET", "/v1/customers/{id}", retrieve_customer, set()),
    Route("POST", "/v1/customers/{id}", update_customer, CUSTOMER_WRITE - {"test_clock"}),
    Route("DELETE", "/v1/customers/{id}", delete_customer, set()),
    Route("POST", "/v1/invoiceitems", create_invoiceitem, ITEM_CREATE),
    Route("GET", "/v1/invoiceitems", list_invoiceitems, LIST_PARAMS | ITEM_LIST_FILTERS),
    Route("GET", "/v1/invoiceitems/{id}", retrieve_invoiceitem, set()),
    Route("POST", "/v1/invoiceitems/{id}", update_invoiceitem, ITEM_WRITE),
    Route("DELETE", "/v1/invoiceitems/{id}", delete_invoiceitem, set()),
    Route("POST", "/v1/invoices", create_invoice, INVOICE_WRITE),
    Route("GET", "/v1/invoices", list_invoices, INVOICE_LIST),
    Route("GET", "/v1/invoices/search", search_invoices, SEARCH),
    Route("GET", "/v1/invoices/{id}", retrieve_invoice, set()),
    Route("POST", "/v1/invoices/{id}", update_invoice, INVOICE_WRITE - names("customer currency")),
    Route("DELETE", "/v1/invoices/{id}", delete_invoice, set()),
    Route("GET", "/v1/invoices/{id}/lines", list_invoice_lines, LIST_PARAMS - {"created"}),
]
