"""Customer balance transactions: a credit (negative amount) or debit on the customer's
balance, applied to the next invoice when it is finalized, as on Stripe.

A credit of 300 and an invoice of 1,000: the invoice's `starting_balance` is -300, its
`amount_due` 700, its `ending_balance` 0, and an `applied_to_invoice` transaction of +300
brings the customer's balance back to 0. A credit larger than the invoice leaves the rest.
"""

from __future__ import annotations

from typing import Any

from . import errors, forms, listing
from .routes import LIST_PARAMS, Route, names
from .store import RequestContext, Store, new_id

Obj = dict[str, Any]
Params = dict[str, Any]


def _transaction(
    store: Store, cust: Obj, amount: int, currency: str, kind: str, fields: Obj
) -> Obj:
    cust["balance"] = int(cust.get("balance") or 0) + amount
    return store.insert(
        {
            "id": new_id("cbtxn"),
            "object": "customer_balance_transaction",
            "amount": amount,
            "checkout_session": None,
            "created": store.now(),
            "credit_note": None,
            "currency": currency,
            "customer": cust["id"],
            "description": fields.get("description"),
            "ending_balance": cust["balance"],
            "invoice": fields.get("invoice"),
            "livemode": False,
            "metadata": fields.get("metadata") or {},
            "type": kind,
        }
    )


def create_balance_transaction(store: Store, ctx: RequestContext, p: Params, cus_id: str) -> Obj:
    cust = store.require("customer", cus_id)
    amount = forms.req_int(p, "amount")
    if amount == 0:
        raise errors.invalid("The amount must not be zero.", param="amount")
    currency = forms.currency(p)
    if currency is None:
        raise errors.missing("currency")
    if cust.get("currency") and cust["currency"] != currency:
        raise errors.invalid(
            f"The customer's balance is in {cust['currency']}, not {currency}.", param="currency"
        )
    cust["currency"] = currency
    fields = {"description": forms.opt_str(p, "description"), "metadata": forms.metadata(p)}
    return _transaction(store, cust, amount, currency, "adjustment", fields)


def list_balance_transactions(store: Store, ctx: RequestContext, p: Params, cus_id: str) -> Obj:
    store.require("customer", cus_id)
    items = [t for t in store.values("customer_balance_transaction") if t["customer"] == cus_id]
    return listing.list_object(items, p, f"/v1/customers/{cus_id}/balance_transactions")


def apply_to_invoice(store: Store, cust: Obj | None, inv: Obj) -> None:
    """At finalization: the customer's balance in the invoice's currency goes into it."""
    if cust is None or not cust.get("balance") or cust.get("currency") != inv["currency"]:
        return
    balance = int(cust["balance"])
    applied = max(balance, -inv["amount_due"])  # a credit covers at most what is due
    inv["starting_balance"] = balance
    inv["amount_due"] = max(inv["amount_due"] + applied, 0)
    inv["amount_remaining"] = max(inv["amount_due"] - inv["amount_paid"], 0)
    _transaction(
        store, cust, -applied, inv["currency"], "applied_to_invoice", {"invoice": inv["id"]}
    )
    inv["ending_balance"] = cust["balance"]


ROUTES = [
    Route(
        "POST",
        "/v1/customers/{id}/balance_transactions",
        create_balance_transaction,
        names("amount currency description metadata"),
    ),
    Route(
        "GET",
        "/v1/customers/{id}/balance_transactions",
        list_balance_transactions,
        LIST_PARAMS,
    ),
]
