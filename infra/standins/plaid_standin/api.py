"""The Plaid endpoints: which request fields each accepts, and what it answers.

Handlers get the parsed JSON body (already checked against the endpoint's field list) and
return the response without `request_id`; the server adds it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from . import errors
from .jwt import KeyRing
from .state import FIREABLE_WEBHOOKS, StandinState

NoneType = type(None)
STR = (str,)
OPT_STR = (str, NoneType)
LIST = (list,)
DICT = (dict,)
INT = (int,)
MAX_SYNC_COUNT = 500
DEFAULT_SYNC_COUNT = 100


class Services(Protocol):
    state: StandinState
    keys: KeyRing


Handler = Callable[[Services, dict[str, Any]], dict[str, Any]]


@dataclass(frozen=True)
class Endpoint:
    handler: Handler
    required: Mapping[str, tuple[type, ...]]
    optional: Mapping[str, tuple[type, ...]]
    allow_unknown: bool = False


def check_fields(endpoint: Endpoint, body: dict[str, Any]) -> None:
    """MISSING_FIELDS / UNKNOWN_FIELDS / INVALID_FIELD, as Plaid checks request bodies."""
    missing = [name for name in endpoint.required if body.get(name) is None]
    if missing:
        raise errors.missing_fields(missing)
    known = {"client_id", "secret", *endpoint.required, *endpoint.optional}
    unknown = sorted(set(body) - known)
    if unknown and not endpoint.allow_unknown:
        raise errors.unknown_fields(unknown)
    for name, kinds in {**endpoint.required, **endpoint.optional}.items():
        if name not in body:
            continue
        value = body[name]
        if isinstance(value, bool) and bool not in kinds:
            raise errors.invalid_field(f"{name} must be of type {kinds[0].__name__}")
        if not isinstance(value, kinds):
            raise errors.invalid_field(f"{name} must be of type {kinds[0].__name__}")


def _link_token_create(services: Services, body: dict[str, Any]) -> dict[str, Any]:
    if (
        not isinstance(body["user"].get("client_user_id"), str)
        or not body["user"]["client_user_id"]
    ):
        raise errors.missing_fields(["user.client_user_id"])
    if not body["country_codes"]:
        raise errors.invalid_field("country_codes must contain at least one country code")
    access_token = body.get("access_token")
    if access_token is not None:  # update mode: the Item must exist
        services.state.item_for_token(str(access_token), allow_error=True)
    token, expiration = services.state.create_link_token(
        access_token=access_token, webhook=body.get("webhook")
    )
    return {"link_token": token, "expiration": expiration}


def _sandbox_public_token_create(services: Services, body: dict[str, Any]) -> dict[str, Any]:
    options = body.get("options") or {}
    webhook = options.get("webhook")
    if webhook is not None and not isinstance(webhook, str):
        raise errors.invalid_field("options.webhook must be a string")
    if not body["initial_products"]:
        raise errors.invalid_field("initial_products must contain at least one product")
    public_token = services.state.create_item(
        institution_id=body["institution_id"],
        products=list(body["initial_products"]),
        webhook=webhook,
    )
    return {"public_token": public_token}


def _exchange(services: Services, body: dict[str, Any]) -> dict[str, Any]:
    access_token, item_id = services.state.exchange_public_token(body["public_token"])
    return {"access_token": access_token, "item_id": item_id}


def _accounts_get(services: Services, body: dict[str, Any]) -> dict[str, Any]:
    item = services.state.item_for_token(body["access_token"])
    wanted = (body.get("options") or {}).get("account_ids")
    accounts = [a for a in item.accounts if wanted is None or a["account_id"] in wanted]
    return {"accounts": accounts, "item": item.wire()}


def _item_get(services: Services, body: dict[str, Any]) -> dict[str, Any]:
    item = services.state.item_for_token(body["access_token"], allow_error=True)
    last_webhook = None
    if item.last_webhook is not None:
        last_webhook = {"sent_at": item.last_webhook[0], "code_sent": item.last_webhook[1]}
    status = {
        "investments": None,
        "transactions": {"last_successful_update": item.last_sync_at, "last_failed_update": None},
        "last_webhook": last_webhook,
    }
    return {"item": item.wire(with_consent_fields=True), "status": status}


def _item_remove(services: Services, body: dict[str, Any]) -> dict[str, Any]:
    item = services.state.item_for_token(body["access_token"], allow_error=True)
    services.state.remove_item(item)
    return {}


def _item_webhook_update(services: Services, body: dict[str, Any]) -> dict[str, Any]:
    item = services.state.item_for_token(body["access_token"], allow_error=True)
    with services.state.lock:
        item.webhook = body.get("webhook") or None
    services.state.emit_item_webhook(item, "WEBHOOK_UPDATE_ACKNOWLEDGED")
    return {"item": item.wire()}


def _transactions_sync(services: Services, body: dict[str, Any]) -> dict[str, Any]:
    item = services.state.item_for_token(body["access_token"])
    count = body.get("count", DEFAULT_SYNC_COUNT)
    if not 1 <= count <= MAX_SYNC_COUNT:
        raise errors.invalid_field(f"count must be between 1 and {MAX_SYNC_COUNT}")
    options = body.get("options") or {}
    account_id = options.get("account_id")
    page = services.state.sync(item, body.get("cursor"), count, account_id)
    if not options.get("include_original_description"):
        for transaction in page.added + page.modified:
            transaction["original_description"] = None
    accounts = [a for a in item.accounts if account_id is None or a["account_id"] == account_id]
    return {
        "transactions_update_status": item.update_status,
        "accounts": accounts,
        "added": page.added,
        "modified": page.modified,
        "removed": page.removed,
        "next_cursor": page.next_cursor,
        "has_more": page.has_more,
    }


_SANDBOX_TRANSACTION_FIELDS = ("date_transacted", "date_posted", "amount", "description")


def _sandbox_transactions_create(services: Services, body: dict[str, Any]) -> dict[str, Any]:
    item = services.state.item_for_token(body["access_token"])
    specs = []
    for index, entry in enumerate(body["transactions"]):
        if not isinstance(entry, dict):
            raise errors.invalid_field(f"transactions[{index}] must be an object")
        missing = [
            f"transactions[{index}].{k}" for k in _SANDBOX_TRANSACTION_FIELDS if k not in entry
        ]
        if missing:
            raise errors.missing_fields(missing)
        if not isinstance(entry["description"], str):
            raise errors.invalid_field(f"transactions[{index}].description must be a string")
        currency = entry.get("iso_currency_code") or "USD"
        specs.append(
            {
                "amount": entry["amount"],
                "name": entry["description"],
                "merchant_name": entry["description"],
                "original_description": entry["description"],
                "date": entry["date_posted"],
                "authorized_date": entry["date_transacted"],
                "iso_currency_code": currency,
            }
        )
    services.state.add_transactions(item, specs)
    return {}


def _fire_webhook(services: Services, body: dict[str, Any]) -> dict[str, Any]:
    item = services.state.item_for_token(body["access_token"], allow_error=True)
    code = body["webhook_code"]
    expected_type = FIREABLE_WEBHOOKS.get(code)
    if expected_type is None:
        raise errors.invalid_field(f"webhook_code {code} is not supported by this stand-in")
    webhook_type = body.get("webhook_type") or expected_type
    if webhook_type != expected_type:
        raise errors.invalid_field(f"webhook_code {code} does not belong to {webhook_type}")
    if not item.webhook:
        raise errors.sandbox_webhook_invalid()
    if webhook_type == "TRANSACTIONS":
        services.state.emit_transactions_webhook(item, code)
    else:
        services.state.emit_item_webhook(item, code)
    return {"webhook_fired": True}


def _reset_login(services: Services, body: dict[str, Any]) -> dict[str, Any]:
    item = services.state.item_for_token(body["access_token"], allow_error=True)
    services.state.require_login(item)
    return {"reset_login": True}


def _webhook_verification_key_get(services: Services, body: dict[str, Any]) -> dict[str, Any]:
    key = services.keys.get(body["key_id"])
    if key is None:
        raise errors.invalid_webhook_key_id()
    return {"key": key.jwk()}


_TOKEN = {"access_token": STR}

ENDPOINTS: dict[str, Endpoint] = {
    "/link/token/create": Endpoint(
        _link_token_create,
        {"client_name": STR, "language": STR, "country_codes": LIST, "user": DICT},
        {"products": LIST, "webhook": STR},
        allow_unknown=True,
    ),
    "/sandbox/public_token/create": Endpoint(
        _sandbox_public_token_create,
        {"institution_id": STR, "initial_products": LIST},
        {"options": DICT, "user_token": STR, "user_id": STR},
    ),
    "/item/public_token/exchange": Endpoint(_exchange, {"public_token": STR}, {}),
    "/accounts/get": Endpoint(_accounts_get, _TOKEN, {"options": DICT}),
    "/item/get": Endpoint(_item_get, _TOKEN, {}),
    "/item/remove": Endpoint(
        _item_remove, _TOKEN, {"reason_code": OPT_STR, "reason_note": OPT_STR}
    ),
    "/item/webhook/update": Endpoint(_item_webhook_update, _TOKEN, {"webhook": OPT_STR}),
    "/transactions/sync": Endpoint(
        _transactions_sync, _TOKEN, {"cursor": STR, "count": INT, "options": DICT}
    ),
    "/sandbox/transactions/create": Endpoint(
        _sandbox_transactions_create, {**_TOKEN, "transactions": LIST}, {}
    ),
    "/sandbox/item/fire_webhook": Endpoint(
        _fire_webhook, {**_TOKEN, "webhook_code": STR}, {"webhook_type": STR, "options": DICT}
    ),
    "/sandbox/item/reset_login": Endpoint(_reset_login, _TOKEN, {}),
    "/webhook_verification_key/get": Endpoint(_webhook_verification_key_get, {"key_id": STR}, {}),
}
