"""Invoice status transitions: finalize, send, pay (card or out of band), void.

draft ──finalize/send/pay──▶ open ──pay──▶ paid
                              └──void──▶ void
A draft whose amount due is 0 is paid as soon as it is finalized, as on Stripe.
"""

from __future__ import annotations

from typing import Any

from . import balances, billing, cards, errors, forms, objects, payments
from .routes import Route, names
from .store import RequestContext, Store

Obj = dict[str, Any]
Params = dict[str, Any]


def finalize(store: Store, ctx: RequestContext | None, inv: Obj) -> None:
    objects.refresh_invoice(store, inv)
    now = store.now()
    cust = store.get("customer", inv["customer"])
    if cust is not None:
        sequence = cust["next_invoice_sequence"]
        cust["next_invoice_sequence"] = sequence + 1
        inv["number"] = f"{cust['invoice_prefix']}-{sequence:04d}"
    inv["status"] = "open"
    inv["status_transitions"]["finalized_at"] = now
    inv["effective_at"] = now
    inv["ending_balance"] = 0
    balances.apply_to_invoice(store, cust, inv)
    inv["automatically_finalizes_at"] = None
    inv["hosted_invoice_url"] = f"{store.base_url}/_standin/invoices/{inv['id']}/hosted"
    inv["webhooks_delivered_at"] = now
    store.emit("invoice.finalized", inv, ctx)
    if inv["amount_due"] == 0:
        mark_paid(store, ctx, inv, out_of_band=False)


def mark_paid(store: Store, ctx: RequestContext | None, inv: Obj, *, out_of_band: bool) -> None:
    inv["amount_paid"] = inv["amount_due"]
    inv["amount_remaining"] = 0
    inv["status"] = "paid"
    inv["status_transitions"]["paid_at"] = store.now()
    inv["attempted"] = True
    inv["auto_advance"] = False
    inv["next_payment_attempt"] = None
    store.emit("invoice.paid", inv, ctx)
    if not out_of_band:
        store.emit("invoice.payment_succeeded", inv, ctx)


def _open_invoice(store: Store, in_id: str) -> Obj:
    inv = store.require("invoice", in_id)
    if inv["status"] == "paid":
        raise errors.state_error("Invoice is already paid", code="invoice_already_paid")
    if inv["status"] != "open":
        raise errors.state_error(
            f"You can only pay or void an open invoice; {in_id} is {inv['status']}.",
            code="invoice_not_editable" if inv["status"] == "draft" else None,
        )
    return inv


def finalize_invoice(store: Store, ctx: RequestContext, p: Params, in_id: str) -> Obj:
    inv = store.require("invoice", in_id)
    if inv["status"] != "draft":
        raise errors.state_error(
            "This invoice is already finalized, you can't re-finalize a non-draft invoice."
        )
    inv["auto_advance"] = bool(forms.opt_bool(p, "auto_advance", inv["auto_advance"]))
    finalize(store, ctx, inv)
    return inv


def send_invoice(store: Store, ctx: RequestContext, p: Params, in_id: str) -> Obj:
    inv = store.require("invoice", in_id)
    if inv["collection_method"] != "send_invoice":
        raise errors.state_error(
            "You can only manually send an invoice if its collection method is 'send_invoice'."
        )
    cust = store.get("customer", inv["customer"])
    if cust is not None:
        billing.require_email(cust)
    if inv["status"] == "draft":
        finalize(store, ctx, inv)
    if inv["status"] == "void":
        raise errors.state_error("You cannot send a voided invoice.")
    store.emit("invoice.sent", inv, ctx)
    return inv


def _payment_method_for(store: Store, ctx: RequestContext, inv: Obj, p: Params) -> Obj | None:
    cust = store.require("customer", inv["customer"], param="customer", status=400)
    value = forms.opt_str(p, "payment_method")
    if value:
        pm = payments.resolve_payment_method(store, ctx, value, "payment_method")
        if pm["customer"] is None:
            payments.attach(store, ctx, pm, cust)
        elif pm["customer"] != cust["id"]:
            raise errors.invalid(
                f"The payment method {pm['id']} belongs to another customer.",
                param="payment_method",
            )
        return pm
    defaults = (inv["default_payment_method"], cust["invoice_settings"]["default_payment_method"])
    for candidate in defaults:
        if candidate and (found := store.get("payment_method", candidate)) is not None:
            return found
    attached = [pm for pm in store.values("payment_method") if pm["customer"] == cust["id"]]
    return attached[0] if attached else None


def pay_invoice(store: Store, ctx: RequestContext, p: Params, in_id: str) -> Obj:
    inv = store.require("invoice", in_id)
    if inv["status"] == "draft":
        finalize(store, ctx, inv)
        if inv["status"] == "paid":
            return inv
    inv = _open_invoice(store, in_id)
    if forms.opt_bool(p, "paid_out_of_band", False):
        mark_paid(store, ctx, inv, out_of_band=True)
        return inv
    pm = _payment_method_for(store, ctx, inv, p)
    if pm is None:
        raise errors.StripeError(
            402,
            "Cannot charge a customer that has no active card",
            type_="card_error",
            code="missing",
        )
    inv["attempt_count"] += 1
    inv["attempted"] = True
    card = cards.card_of(pm)
    if card is not None and card.declines:
        store.emit("invoice.payment_failed", inv, ctx)
        raise errors.card_declined(extra={"payment_method": {"id": pm["id"], "type": "card"}})
    mark_paid(store, ctx, inv, out_of_band=False)
    return inv


def void_invoice(store: Store, ctx: RequestContext, p: Params, in_id: str) -> Obj:
    inv = _open_invoice(store, in_id)
    inv["status"] = "void"
    inv["status_transitions"]["voided_at"] = store.now()
    inv["auto_advance"] = False
    store.emit("invoice.voided", inv, ctx)
    return inv


ROUTES = [
    Route("POST", "/v1/invoices/{id}/finalize", finalize_invoice, {"auto_advance"}),
    Route("POST", "/v1/invoices/{id}/send", send_invoice, set()),
    Route(
        "POST",
        "/v1/invoices/{id}/pay",
        pay_invoice,
        names("forgive mandate off_session paid_out_of_band payment_method source"),
    ),
    Route("POST", "/v1/invoices/{id}/void", void_invoice, set()),
]
