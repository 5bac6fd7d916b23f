"""Connected accounts, transfers and transfer reversals.

A transfer needs the platform's available balance (`StripeStandin.set_platform_balance`;
unlimited until set) or fails with 400 `balance_insufficient`, and a destination whose
`transfers` capability is active, or fails with 400 `insufficient_capabilities_for_transfer`.
A transfer to an account marked as failing (`StripeStandin.fail_transfers_to`) either fails
with that capability error and creates nothing (mode "error", the default: the caller
keeps the payout pending and can retry), or is created and at once reversed in full (mode
"reverse": `reversed: true`, a `transfer.reversed` event), like a payout bounced by the bank.
"""

from __future__ import annotations

from typing import Any

from . import errors, forms, listing
from . import payment_objects as objects
from .routes import LIST_PARAMS, Route, names
from .store import RequestContext, Store

Obj = dict[str, Any]
Params = dict[str, Any]


def create_account(store: Store, ctx: RequestContext, p: Params) -> Obj:
    forms.opt_enum(p, "type", ("custom", "express", "standard"))
    for key in ("business_type", "country", "default_currency", "email"):
        forms.opt_str(p, key)
    acct = store.insert(objects.account(store, p, forms.metadata(p)))
    return acct


def retrieve_account(
    store: Store, ctx: RequestContext, p: Params, acct_id: str | None = None
) -> Obj:
    if acct_id is None or acct_id == store.platform_account_id:
        return objects.platform_account(store)
    return store.require("account", acct_id)


def update_account(store: Store, ctx: RequestContext, p: Params, acct_id: str) -> Obj:
    acct = store.require("account", acct_id)
    email = forms.opt_str(p, "email") if "email" in p else acct["email"]
    acct["metadata"] = forms.metadata(p, acct["metadata"])
    acct["email"] = email
    return acct


def list_accounts(store: Store, ctx: RequestContext, p: Params) -> Obj:
    return listing.list_object(
        listing.created_filter(store.values("account"), p), p, "/v1/accounts"
    )


def _reverse(
    store: Store, ctx: RequestContext | None, tr: Obj, amount: int, metadata: dict[str, str]
) -> Obj:
    if amount > tr["amount"] - tr["amount_reversed"]:
        raise errors.invalid(
            "Refund amount is greater than the amount of the transfer that can be reversed.",
            param="amount",
        )
    reversal = objects.transfer_reversal(store, tr, amount)
    reversal["metadata"] = metadata
    tr["amount_reversed"] += amount
    if store.platform_balance is not None:  # a reversal gives the money back
        currency = tr["currency"]
        store.platform_balance[currency] = store.platform_balance.get(currency, 0) + amount
    tr["reversed"] = tr["amount_reversed"] == tr["amount"]
    data = tr["reversals"]["data"]
    data.insert(0, reversal)
    tr["reversals"].update(total_count=len(data))
    store.emit("transfer.reversed", tr, ctx)
    return reversal


def _draw(store: Store, currency: str, amount: int) -> None:
    """Take a transfer from the platform's available balance, as Stripe does."""
    balance = store.platform_balance
    if balance is None:
        return
    if balance.get(currency, 0) < amount:
        raise errors.StripeError(
            400,
            "You have insufficient available funds in your Stripe account. Try adding funds "
            "directly to your available balance by creating Top-ups: "
            "https://stripe.com/docs/api#create_topup",
            code="balance_insufficient",
        )
    balance[currency] -= amount


def create_transfer(store: Store, ctx: RequestContext, p: Params) -> Obj:
    amount = forms.req_int(p, "amount", minimum=1)
    currency = forms.currency(p)
    if currency is None:
        raise errors.missing("currency")
    dest_id = forms.req_str(p, "destination")
    acct = store.get("account", dest_id)
    if acct is None:
        raise errors.no_such("destination", dest_id, param="destination", status=400)
    mode = store.failing_transfers.get(dest_id)
    if mode == "error" or acct["capabilities"].get("transfers") != "active":
        raise errors.StripeError(
            400,
            "Your destination account needs to have at least one of the following "
            "capabilities enabled: transfers, crypto_transfers, legacy_payments",
            code="insufficient_capabilities_for_transfer",
            param="destination",
        )
    _draw(store, currency, amount)
    fields = {
        "amount": amount,
        "currency": currency,
        "description": forms.opt_str(p, "description"),
        "destination": dest_id,
        "source_transaction": forms.opt_str(p, "source_transaction"),
        "transfer_group": forms.opt_str(p, "transfer_group"),
    }
    tr = store.insert(objects.transfer(store, fields, forms.metadata(p)))
    store.emit("transfer.created", tr, ctx)
    if mode == "reverse":
        _reverse(store, ctx, tr, amount, {"reason": "destination_account_failing"})
    return tr


def update_transfer(store: Store, ctx: RequestContext, p: Params, tr_id: str) -> Obj:
    tr = store.require("transfer", tr_id)
    description = forms.opt_str(p, "description") if "description" in p else tr["description"]
    tr["metadata"] = forms.metadata(p, tr["metadata"])
    tr["description"] = description
    return tr


def retrieve_transfer(store: Store, ctx: RequestContext, p: Params, tr_id: str) -> Obj:
    return store.require("transfer", tr_id)


def list_transfers(store: Store, ctx: RequestContext, p: Params) -> Obj:
    items = store.values("transfer")
    for key in ("destination", "transfer_group"):
        if (value := forms.opt_str(p, key)) is not None:
            items = [t for t in items if t[key] == value]
    return listing.list_object(listing.created_filter(items, p), p, "/v1/transfers")


def create_reversal(store: Store, ctx: RequestContext, p: Params, tr_id: str) -> Obj:
    tr = store.require("transfer", tr_id)
    amount = forms.opt_int(p, "amount", tr["amount"] - tr["amount_reversed"], minimum=1)
    assert amount is not None
    return _reverse(store, ctx, tr, amount, forms.metadata(p))


def list_reversals(store: Store, ctx: RequestContext, p: Params, tr_id: str) -> Obj:
    tr = store.require("transfer", tr_id)
    return listing.list_object(tr["reversals"]["data"], p, f"/v1/transfers/{tr_id}/reversals")


ACCOUNT_WRITE = names(
    "account_token business_profile business_type capabilities company controller country "
    "default_currency documents email external_account groups individual metadata settings "
    "tos_acceptance type"
)
TRANSFER_CREATE = names(
    "amount currency description destination metadata source_transaction source_type transfer_group"
)

ROUTES = [
    Route("POST", "/v1/accounts", create_account, ACCOUNT_WRITE),
    Route("GET", "/v1/accounts", list_accounts, LIST_PARAMS),
    Route("GET", "/v1/account", retrieve_account, set()),
    Route("GET", "/v1/accounts/{id}", retrieve_account, set()),
    Route("POST", "/v1/accounts/{id}", update_account, ACCOUNT_WRITE - names("type country")),
    Route("POST", "/v1/transfers", create_transfer, TRANSFER_CREATE),
    Route(
        "GET", "/v1/transfers", list_transfers, LIST_PARAMS | names("destination transfer_group")
    ),
    Route("GET", "/v1/transfers/{id}", retrieve_transfer, set()),
    Route("POST", "/v1/transfers/{id}", update_transfer, names("description metadata")),
    Route(
        "POST",
        "/v1/transfers/{id}/reversals",
        create_reversal,
        names("amount description metadata refund_application_fee"),
    ),
    Route("GET", "/v1/transfers/{id}/reversals", list_reversals, LIST_PARAMS - {"created"}),
]
