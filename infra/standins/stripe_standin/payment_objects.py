"""Object factories for Connect and payments: accounts, transfers, PaymentMethods, SetupIntents.

Top-level keys follow `stripe-fixtures3.json`; nested onboarding/requirements data is minimal.
"""

from __future__ import annotations

from typing import Any

from . import cards
from .objects import ADDRESS_KEYS, address, empty_list, sub
from .store import Store, new_id, random_token

Obj = dict[str, Any]
_CURRENCY_BY_COUNTRY = {"US": "usd", "GB": "gbp", "CA": "cad", "AU": "aud", "JP": "jpy"}
_EURO = {"AT", "BE", "DE", "ES", "FI", "FR", "IE", "IT", "NL", "PT"}


def _requirements() -> Obj:
    return {
        "alternatives": [],
        "current_deadline": None,
        "currently_due": [],
        "disabled_reason": None,
        "errors": [],
        "eventually_due": [],
        "past_due": [],
        "pending_verification": [],
    }


def account(store: Store, params: dict[str, Any], metadata: dict[str, str]) -> Obj:
    acct_id = new_id("acct")
    acct_type = params.get("type") or ("express" if params.get("controller") is None else "custom")
    country = (params.get("country") or "US").upper()
    requested = sub(params, "capabilities")
    capabilities = {
        name: "active"
        for name, wanted in requested.items()
        if isinstance(wanted, dict) and wanted.get("requested") in ("true", True)
    } or {"transfers": "active"}
    profile = sub(params, "business_profile")
    default_currency = params.get("default_currency") or _CURRENCY_BY_COUNTRY.get(
        country, "eur" if country in _EURO else "usd"
    )
    return {
        "id": acct_id,
        "object": "account",
        "business_profile": {
            "mcc": profile.get("mcc"),
            "name": profile.get("name"),
            "product_description": profile.get("product_description"),
            "support_address": None,
            "support_email": profile.get("support_email"),
            "support_phone": profile.get("support_phone"),
            "support_url": profile.get("support_url"),
            "url": profile.get("url"),
        },
        "business_type": params.get("business_type") or None,
        "capabilities": capabilities,
        "charges_enabled": "card_payments" in capabilities,
        "controller": {
            "fees": {"payer": "application"},
            "is_controller": True,
            "losses": {"payments": "application"},
            "requirement_collection": "stripe" if acct_type != "custom" else "application",
            "stripe_dashboard": {"type": acct_type if acct_type != "custom" else "none"},
            "type": "application",
        },
        "country": country,
        "created": store.now(),
        "default_currency": default_currency,
        "details_submitted": True,
        "email": params.get("email") or None,
        "external_accounts": empty_list(f"/v1/accounts/{acct_id}/external_accounts"),
        "future_requirements": _requirements(),
        "livemode": False,
        "metadata": metadata,
        "payouts_enabled": True,
        "requirements": _requirements(),
        "settings": {
            "dashboard": {"display_name": profile.get("name"), "timezone": "Etc/UTC"},
            "payouts": {
                "debit_negative_balances": True,
                "schedule": {"delay_days": 2, "interval": "daily"},
                "statement_descriptor": None,
            },
        },
        "tos_acceptance": {"date": None, "ip": None, "user_agent": None},
        "type": acct_type,
    }


def platform_account(store: Store) -> Obj:
    acct = account(store, {"type": "standard", "business_profile": {"name": "CLO stand-in"}}, {})
    acct["id"] = store.platform_account_id
    acct["controller"] = {"type": "account"}
    acct["capabilities"] = {"card_payments": "active", "transfers": "active"}
    acct["charges_enabled"] = True
    acct["external_accounts"]["url"] = f"/v1/accounts/{acct['id']}/external_accounts"
    return acct


def transfer(store: Store, fields: Obj, metadata: dict[str, str]) -> Obj:
    tr_id = new_id("tr")
    return {
        "id": tr_id,
        "object": "transfer",
        "amount": fields["amount"],
        "amount_reversed": 0,
        "balance_transaction": new_id("txn"),
        "created": store.now(),
        "currency": fields["currency"],
        "description": fields["description"],
        "destination": fields["destination"],
        "destination_payment": new_id("py"),
        "livemode": False,
        "metadata": metadata,
        "reversals": empty_list(f"/v1/transfers/{tr_id}/reversals"),
        "reversed": False,
        "source_transaction": fields["source_transaction"],
        "source_type": "card",
        "transfer_group": fields["transfer_group"],
    }


def transfer_reversal(store: Store, tr: Obj, amount: int) -> Obj:
    return {
        "id": new_id("trr"),
        "object": "transfer_reversal",
        "amount": amount,
        "balance_transaction": new_id("txn"),
        "created": store.now(),
        "currency": tr["currency"],
        "destination_payment_refund": new_id("pyr"),
        "metadata": {},
        "source_refund": None,
        "transfer": tr["id"],
    }


def payment_method(
    store: Store, card: cards.MagicCard, params: dict[str, Any], metadata: dict[str, str]
) -> Obj:
    billing = sub(params, "billing_details")
    return {
        "id": new_id("pm"),
        "object": "payment_method",
        "allow_redisplay": params.get("allow_redisplay") or "unspecified",
        "billing_details": {
            "address": address(billing.get("address")) or {key: None for key in ADDRESS_KEYS},
            "email": billing.get("email") or None,
            "name": billing.get("name") or None,
            "phone": billing.get("phone") or None,
            "tax_id": None,
        },
        "card": cards.card_details(card),
        "created": store.now(),
        "customer": None,
        "customer_account": None,
        "livemode": False,
        "metadata": metadata,
        "type": "card",
    }


def setup_intent(store: Store, fields: Obj, metadata: dict[str, str]) -> Obj:
    seti_id = new_id("seti")
    types = fields["payment_method_types"]
    return {
        "id": seti_id,
        "object": "setup_intent",
        "application": None,
        "automatic_payment_methods": None
        if types
        else {"allow_redirects": "always", "enabled": True},
        "cancellation_reason": None,
        "client_secret": f"{seti_id}_secret_{random_token(32)}",
        "created": store.now(),
        "customer": fields["customer"],
        "description": fields["description"],
        "excluded_payment_method_types": None,
        "flow_directions": None,
        "last_setup_error": None,
        "latest_attempt": None,
        "livemode": False,
        "mandate": None,
        "metadata": metadata,
        "next_action": None,
        "on_behalf_of": None,
        "payment_method": None,
        "payment_method_configuration_details": None,
        "payment_method_options": {
            "card": {
                "mandate_options": None,
                "network": None,
                "request_three_d_secure": "automatic",
            }
        },
        "payment_method_types": types or ["card"],
        "single_use_mandate": None,
        "status": "requires_payment_method",
        "usage": fields["usage"],
    }
