"""PaymentMethods (from Stripe's test cards), SetupIntents and events."""

from __future__ import annotations

from typing import Any

from . import cards, errors, forms, listing
from . import payment_objects as objects
from .routes import LIST_PARAMS, Route, names
from .store import RequestContext, Store, commit, snapshot

Obj = dict[str, Any]
Params = dict[str, Any]

# ---- payment methods ----------------------------------------------------------------------


def resolve_payment_method(store: Store, ctx: RequestContext, value: str, param: str) -> Obj:
    """An existing `pm_...`, or a new PaymentMethod for a test id (`pm_card_visa`, `tok_visa`)."""
    card = cards.lookup(value)
    if card is not None:
        return store.insert(objects.payment_method(store, card, {}, {}))
    return store.require("payment_method", value, param=param, status=400)


def attach(store: Store, ctx: RequestContext, pm: Obj, cust: Obj) -> None:
    if pm["customer"] == cust["id"]:
        return
    if pm["customer"] is not None:
        raise errors.invalid(
            "The payment method you provided has already been attached to a customer.",
            param="payment_method",
        )
    pm["customer"] = cust["id"]
    store.emit("payment_method.attached", pm, ctx)


def create_payment_method(store: Store, ctx: RequestContext, p: Params) -> Obj:
    if forms.req_str(p, "type") != "card":
        raise errors.invalid("The stand-in supports `type=card` only.", param="type")
    card_params = p.get("card")
    if card_params is None or card_params == "":
        raise errors.missing("card")
    if not isinstance(card_params, dict):
        raise errors.invalid("Invalid object", param="card")
    if "number" in card_params or "cvc" in card_params:
        raise errors.invalid(
            "Sending credit card numbers directly to the Stripe API is generally unsafe. "
            "Use a test token (card[token]=tok_visa) or a test PaymentMethod (pm_card_visa).",
            param="card[number]",
            code="card_number_not_accepted",
        )
    token = forms.req_str(card_params, "token")
    card = cards.lookup(token) if token.startswith("tok_") else None
    if card is None:
        raise errors.no_such("token", token, param="card[token]", status=400)
    return store.insert(objects.payment_method(store, card, p, forms.metadata(p)))


def retrieve_payment_method(store: Store, ctx: RequestContext, p: Params, pm_id: str) -> Obj:
    if cards.lookup(pm_id) is not None:
        return resolve_payment_method(store, ctx, pm_id, "payment_method")
    return store.require("payment_method", pm_id)


def update_payment_method(store: Store, ctx: RequestContext, p: Params, pm_id: str) -> Obj:
    original = store.require("payment_method", pm_id)
    pm = snapshot(original)
    card = forms.opt_dict(p, "card") or {}
    for key in ("exp_month", "exp_year"):
        if key in card:
            pm["card"][key] = forms.opt_int(card, key, pm["card"][key], minimum=1)
    if "allow_redisplay" in p:
        pm["allow_redisplay"] = forms.opt_str(p, "allow_redisplay") or "unspecified"
    pm["metadata"] = forms.metadata(p, pm["metadata"])
    return commit(original, pm)


def attach_payment_method(store: Store, ctx: RequestContext, p: Params, pm_id: str) -> Obj:
    pm = retrieve_payment_method(store, ctx, p, pm_id)
    cust = store.require("customer", forms.req_str(p, "customer"), param="customer", status=400)
    attach(store, ctx, pm, cust)
    return pm


def detach_payment_method(store: Store, ctx: RequestContext, p: Params, pm_id: str) -> Obj:
    pm = store.require("payment_method", pm_id)
    if pm["customer"] is None:
        raise errors.state_error("The payment method is not attached to a customer.")
    cust = store.get("customer", pm["customer"])
    if cust and cust["invoice_settings"]["default_payment_method"] == pm_id:
        cust["invoice_settings"]["default_payment_method"] = None
    pm["customer"] = None
    store.emit("payment_method.detached", pm, ctx)
    return pm


def list_payment_methods(
    store: Store, ctx: RequestContext, p: Params, cus_id: str | None = None
) -> Obj:
    if cus_id is not None:
        store.require("customer", cus_id)
    cus_id = cus_id or forms.opt_str(p, "customer")
    items = store.values("payment_method")
    if cus_id is not None:
        items = [pm for pm in items if pm["customer"] == cus_id]
    if (pm_type := forms.opt_str(p, "type")) is not None:
        items = [pm for pm in items if pm["type"] == pm_type]
    url = f"/v1/customers/{cus_id}/payment_methods" if cus_id else "/v1/payment_methods"
    return listing.list_object(items, p, url)


# ---- setup intents ------------------------------------------------------------------------


def create_setup_intent(store: Store, ctx: RequestContext, p: Params) -> Obj:
    cus_id = forms.opt_str(p, "customer")
    if cus_id:
        store.require("customer", cus_id, param="customer", status=400)
    types = forms.opt_list(p, "payment_method_types")
    if types and set(types) - {"card"}:
        raise errors.invalid(
            "The stand-in supports card payment methods only.", param="payment_method_types"
        )
    fields = {
        "customer": cus_id,
        "description": forms.opt_str(p, "description"),
        "payment_method_types": types,
        "usage": forms.opt_enum(p, "usage", ("on_session", "off_session"), "off_session"),
    }
    seti = objects.setup_intent(store, fields, forms.metadata(p))
    if (pm_value := forms.opt_str(p, "payment_method")) is not None:
        seti["payment_method"] = resolve_payment_method(store, ctx, pm_value, "payment_method")[
            "id"
        ]
        seti["status"] = "requires_confirmation"
    store.insert(seti)
    store.emit("setup_intent.created", seti, ctx)
    if forms.opt_bool(p, "confirm", False):
        return confirm_setup_intent(store, ctx, {}, seti["id"])
    return seti


def confirm_setup_intent(store: Store, ctx: RequestContext, p: Params, seti_id: str) -> Obj:
    seti = store.require("setup_intent", seti_id)
    if seti["status"] not in ("requires_payment_method", "requires_confirmation"):
        raise errors.state_error(
            f"You cannot confirm this SetupIntent because it has a status of {seti['status']}.",
            code="setup_intent_unexpected_state",
        )
    pm_value = forms.opt_str(p, "payment_method") or seti["payment_method"]
    if not pm_value:
        raise errors.missing("payment_method")
    pm = resolve_payment_method(store, ctx, pm_value, "payment_method")
    card = cards.card_of(pm)
    if card is not None and card.declines:
        seti["status"] = "requires_payment_method"
        seti["payment_method"] = None
        seti["last_setup_error"] = {
            "code": "card_declined",
            "decline_code": "generic_decline",
            "message": "Your card was declined.",
            "payment_method": snapshot(pm),
            "type": "card_error",
        }
        store.emit("setup_intent.setup_failed", seti, ctx)
        raise errors.card_declined(extra={"setup_intent": snapshot(seti)})
    if seti["customer"]:
        cust = store.require("customer", seti["customer"], param="customer", status=400)
        attach(store, ctx, pm, cust)
    seti["payment_method"] = pm["id"]
    seti["status"] = "succeeded"
    seti["last_setup_error"] = None
    seti["latest_attempt"] = "setatt_" + pm["id"].split("_", 1)[1]
    store.emit("setup_intent.succeeded", seti, ctx)
    return seti


def update_setup_intent(store: Store, ctx: RequestContext, p: Params, seti_id: str) -> Obj:
    original = store.require("setup_intent", seti_id)
    seti = snapshot(original)
    if "description" in p:
        seti["description"] = forms.opt_str(p, "description")
    if (cus_id := forms.opt_str(p, "customer")) is not None:
        seti["customer"] = store.require("customer", cus_id, param="customer", status=400)["id"]
    if (pm_value := forms.opt_str(p, "payment_method")) is not None:
        seti["payment_method"] = resolve_payment_method(store, ctx, pm_value, "payment_method")[
            "id"
        ]
        if seti["status"] == "requires_payment_method":
            seti["status"] = "requires_confirmation"
    seti["metadata"] = forms.metadata(p, seti["metadata"])
    return commit(original, seti)


def cancel_setup_intent(store: Store, ctx: RequestContext, p: Params, seti_id: str) -> Obj:
    seti = store.require("setup_intent", seti_id)
    if seti["status"] in ("succeeded", "canceled"):
        raise errors.state_error(
            f"You cannot cancel this SetupIntent because it has a status of {seti['status']}.",
            code="setup_intent_unexpected_state",
        )
    seti["cancellation_reason"] = forms.opt_enum(
        p, "cancellation_reason", ("abandoned", "duplicate", "requested_by_customer")
    )
    seti["status"] = "canceled"
    store.emit("setup_intent.canceled", seti, ctx)
    return seti


def retrieve_setup_intent(store: Store, ctx: RequestContext, p: Params, seti_id: str) -> Obj:
    return store.require("setup_intent", seti_id)


def list_setup_intents(store: Store, ctx: RequestContext, p: Params) -> Obj:
    items = store.values("setup_intent")
    for key in ("customer", "payment_method"):
        if (value := forms.opt_str(p, key)) is not None:
            items = [s for s in items if s[key] == value]
    return listing.list_object(listing.created_filter(items, p), p, "/v1/setup_intents")


# ---- events -------------------------------------------------------------------------------


def _type_matches(pattern: str, event_type: str) -> bool:
    return event_type == pattern or (pattern.endswith("*") and event_type.startswith(pattern[:-1]))


def list_events(store: Store, ctx: RequestContext, p: Params) -> Obj:
    items = store.values("event")
    patterns = ([t] if (t := forms.opt_str(p, "type")) else []) + (forms.opt_list(p, "types") or [])
    if patterns:
        items = [e for e in items if any(_type_matches(x, e["type"]) for x in patterns)]
    return listing.list_object(listing.created_filter(items, p), p, "/v1/events")


def retrieve_event(store: Store, ctx: RequestContext, p: Params, evt_id: str) -> Obj:
    return store.require("event", evt_id)


SETI_WRITE = names(
    "attach_to_self automatic_payment_methods confirm confirmation_token customer "
    "customer_account description excluded_payment_method_types flow_directions mandate_data "
    "metadata on_behalf_of payment_method payment_method_configuration payment_method_data "
    "payment_method_options payment_method_types return_url single_use usage use_stripe_sdk"
)
SETI_CONFIRM = names(
    "client_secret confirmation_token mandate_data payment_method payment_method_data "
    "payment_method_options return_url use_stripe_sdk"
)
PM_CREATE = names("allow_redisplay billing_details card customer metadata payment_method type")
PM_LIST = LIST_PARAMS | names("allow_redisplay type")

ROUTES = [
    Route("POST", "/v1/payment_methods", create_payment_method, PM_CREATE | {"radar_options"}),
    Route("GET", "/v1/payment_methods", list_payment_methods, PM_LIST | {"customer"}),
    Route("GET", "/v1/payment_methods/{id}", retrieve_payment_method, set()),
    Route(
        "POST",
        "/v1/payment_methods/{id}",
        update_payment_method,
        names("allow_redisplay billing_details card metadata"),
    ),
    Route("POST", "/v1/payment_methods/{id}/attach", attach_payment_method, {"customer"}),
    Route("POST", "/v1/payment_methods/{id}/detach", detach_payment_method, set()),
    Route("GET", "/v1/customers/{id}/payment_methods", list_payment_methods, PM_LIST),
    Route("POST", "/v1/setup_intents", create_setup_intent, SETI_WRITE),
    Route(
        "GET",
        "/v1/setup_intents",
        list_setup_intents,
        LIST_PARAMS | names("attach_to_self customer payment_method"),
    ),
    Route("GET", "/v1/setup_intents/{id}", retrieve_setup_intent, {"client_secret"}),
    Route("POST", "/v1/setup_intents/{id}", update_setup_intent, SETI_WRITE - {"confirm", "usage"}),
    Route("POST", "/v1/setup_intents/{id}/confirm", confirm_setup_intent, SETI_CONFIRM),
    Route("POST", "/v1/setup_intents/{id}/cancel", cancel_setup_intent, {"cancellation_reason"}),
    Route("GET", "/v1/events", list_events, LIST_PARAMS | names("delivery_success type types")),
    Route("GET", "/v1/events/{id}", retrieve_event, set()),
]
