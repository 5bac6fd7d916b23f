"""What the stand-in remembers: Items, their accounts and activity, tokens. In memory, one lock.

Methods here take Python values and raise `PlaidAPIError`; `api.py` maps the wire format onto
them and the scenario methods of `PlaidStandin` call them directly.
"""

from __future__ import annotations

import datetime as dt
import re
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from . import errors
from .txlog import (
    POSTING_FIELDS,
    REBUILD_FIELDS,
    ChangeLog,
    SyncPage,
    build_transaction,
    plaid_id,
    sync_page,
)
from .webhooks import item_webhook_body, transactions_webhook_body

MAX_ITEMS = 10_000
MAX_TRANSACTIONS_PER_CALL = 1_000
INSTITUTIONS = {
    "ins_109508": "First Platypus Bank",
    "ins_109509": "First Gingham Credit Union",
    "ins_109510": "Tattersall Federal Credit Union",
    "ins_109511": "Tartan Bank",
    "ins_109512": "Houndstooth Bank",
    "ins_43": "Capital One",
    "ins_56": "Chase",
    "ins_127989": "Bank of America",
}
KNOWN_PRODUCTS = frozenset(
    {
        "assets",
        "auth",
        "balance",
        "identity",
        "investments",
        "liabilities",
        "transactions",
        "signal",
        "statements",
        "recurring_transactions",
        "transfer",
    }
)
NOT_READY = "NOT_READY"
INITIAL = "INITIAL_UPDATE_COMPLETE"
HISTORICAL = "HISTORICAL_UPDATE_COMPLETE"
INITIAL_PULL_DAYS = 30
MAX_SYNC_FAULTS = 100
_INSTITUTION_ID = re.compile(r"^ins_\d{1,12}$")

# (webhook_type, webhook_code) -> emit function name; what /sandbox/item/fire_webhook can fire
FIREABLE_WEBHOOKS = {
    "SYNC_UPDATES_AVAILABLE": "TRANSACTIONS",
    "DEFAULT_UPDATE": "TRANSACTIONS",
    "ERROR": "ITEM",
    "LOGIN_REPAIRED": "ITEM",
    "PENDING_DISCONNECT": "ITEM",
    "USER_PERMISSION_REVOKED": "ITEM",
    "NEW_ACCOUNTS_AVAILABLE": "ITEM",
}


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def iso(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _account(kind: str, mask: str) -> dict[str, Any]:
    if kind == "credit":
        return {
            "account_id": plaid_id(),
            "balances": {
                "available": 1590.0,
                "current": 410.0,
                "limit": 2000.0,
                "iso_currency_code": "USD",
                "unofficial_currency_code": None,
            },
            "mask": mask,
            "name": "Plaid Credit Card",
            "official_name": "Plaid Diamond 12.5% APR Interest Credit Card",
            "type": "credit",
            "subtype": "credit card",
            "holder_category": "personal",
        }
    return {
        "account_id": plaid_id(),
        "balances": {
            "available": 100.0,
            "current": 110.0,
            "limit": None,
            "iso_currency_code": "USD",
            "unofficial_currency_code": None,
        },
        "mask": mask,
        "name": "Plaid Checking",
        "official_name": "Plaid Gold Standard 0% Interest Checking",
        "type": "depository",
        "subtype": "checking",
        "holder_category": "personal",
    }


@dataclass
class Item:
    item_id: str
    institution_id: str
    webhook: str | None
    products: list[str]
    accounts: list[dict[str, Any]]
    created_at: dt.datetime
    log: ChangeLog = field(default_factory=ChangeLog)
    error: errors.PlaidAPIError | None = None
    removed: bool = False
    force_mutation_error: bool = False
    last_webhook: tuple[str, str] | None = None  # (sent_at, code)
    last_sync_at: str | None = None
    # Plaid pulls an Item's history after linking: nothing (NOT_READY), then the last 30 days
    # (INITIAL_UPDATE_COMPLETE), then the rest (HISTORICAL_UPDATE_COMPLETE). Transactions
    # added before their pull wait in `held`.
    update_status: str = HISTORICAL
    held: list[dict[str, Any]] = field(default_factory=list)
    sync_faults: list[str] = field(default_factory=list)  # SYNC_FAULTS names, next call first

    @property
    def card_account_id(self) -> str:
        return next(a["account_id"] for a in self.accounts if a["type"] == "credit")

    def account_ids(self) -> set[str]:
        return {a["account_id"] for a in self.accounts}

    def wire(self, *, with_consent_fields: bool = False) -> dict[str, Any]:
        body: dict[str, Any] = {
            "item_id": self.item_id,
            "institution_id": self.institution_id,
            "institution_name": INSTITUTIONS.get(self.institution_id, "Sandbox Institution"),
            "webhook": self.webhook,
            "auth_method": None,
            "error": self.error.body(None) if self.error else None,
            "available_products": sorted({"balance", "identity"} - set(self.products)),
            "billed_products": list(self.products),
            "products": list(self.products),
            "consented_products": list(self.products),
            "consent_expiration_time": None,
            "update_type": "background",
        }
        if with_consent_fields:
            body["created_at"] = iso(self.created_at)
        return body


Emit = Callable[[str, dict[str, Any]], None]  # (url, webhook body)


class StandinState:
    def __init__(self, emit: Emit) -> None:
        self.lock = threading.RLock()
        self._emit = emit
        self.items: dict[str, Item] = {}
        self.public_tokens: dict[str, str] = {}
        self.access_tokens: dict[str, str] = {}
        self.revoked_tokens: set[str] = set()
        self.link_tokens: dict[str, str] = {}
        # What Link needs to know of a token: update mode (an access token) and the webhook.
        self.link_configs: dict[str, dict[str, Any]] = {}
        self.new_item_update_status = HISTORICAL

    def reset(self) -> None:
        with self.lock:
            self.new_item_update_status = HISTORICAL
            self.items.clear()
            self.public_tokens.clear()
            self.access_tokens.clear()
            self.revoked_tokens.clear()
            self.link_tokens.clear()
            self.link_configs.clear()

    # ---- tokens and lookups -------------------------------------------------------------

    def create_link_token(
        self, *, access_token: str | None = None, webhook: str | None = None
    ) -> tuple[str, str]:
        token = f"link-sandbox-{uuid.uuid4()}"
        expiration = iso(utc_now() + dt.timedelta(hours=4))
        with self.lock:
            self.link_tokens[token] = expiration
            self.link_configs[token] = {"access_token": access_token, "webhook": webhook}
        return token, expiration

    def create_item(
        self,
        *,
        institution_id: str = "ins_109508",
        products: list[str] | None = None,
        webhook: str | None = None,
        card_mask: str = "3333",
        checking_mask: str = "0000",
    ) -> str:
        """A new Item (credit card + checking account); returns its public token."""
        if not _INSTITUTION_ID.match(institution_id):
            raise errors.invalid_institution(institution_id)
        chosen = list(products or ["transactions"])
        for product in chosen:
            if product not in KNOWN_PRODUCTS:
                raise errors.invalid_product(product)
        for mask in (card_mask, checking_mask):
            if not re.fullmatch(r"\d{4}", mask):
                raise errors.invalid_field("masks are four digits")
        item = Item(
            item_id=plaid_id(),
            institution_id=institution_id,
            webhook=webhook or None,
            products=chosen,
            accounts=[_account("credit", card_mask), _account("depository", checking_mask)],
            created_at=utc_now(),
            update_status=self.new_item_update_status,
        )
        public_token = f"public-sandbox-{uuid.uuid4()}"
        with self.lock:
            if len(self.items) >= MAX_ITEMS:
                raise errors.invalid_field(f"this stand-in keeps at most {MAX_ITEMS} Items")
            self.items[item.item_id] = item
            self.public_tokens[public_token] = item.item_id
        return public_token

    def exchange_public_token(self, public_token: str) -> tuple[str, str]:
        if not public_token.startswith("public-"):
            raise errors.invalid_public_token(
                "provided public token is in an invalid format. "
                "expected format: public-<environment>-<identifier>"
            )
        with self.lock:
            item_id = self.public_tokens.pop(public_token, None)
            if item_id is None:
                raise errors.invalid_public_token()
            access_token = f"access-sandbox-{uuid.uuid4()}"
            self.access_tokens[access_token] = item_id
            item = self.items[item_id]
        self._sync_updates_available(item)
        return access_token, item_id

    def item_for_token(self, access_token: str, *, allow_error: bool = False) -> Item:
        """The Item behind an access token, refusing as Plaid would."""
        if not access_token.startswith("access-"):
            raise errors.invalid_access_token(
                "provided access token is in an invalid format. "
                "expected format: access-<environment>-<identifier>"
            )
        with self.lock:
            if access_token in self.revoked_tokens:
                raise errors.invalid_access_token("provided access token has been revoked")
            item_id = self.access_tokens.get(access_token)
            if item_id is None:
                raise errors.invalid_access_token()
            item = self.items[item_id]
            if item.removed:
                raise errors.item_not_found()
            if item.error is not None and not allow_error:
                raise item.error
            return item

    def resolve(self, ref: str) -> Item:
        """An Item by item id or access token (for scenario calls; ignores item errors)."""
        with self.lock:
            if ref.startswith("access-"):
                ref = self.access_tokens.get(ref, ref)
            item = self.items.get(ref)
            if item is None:
                raise errors.invalid_field(f"no Item {ref}")
            return item

    def revoke_access_token(self, access_token: str) -> None:
        with self.lock:
            if access_token not in self.access_tokens:
                raise errors.invalid_access_token()
            self.revoked_tokens.add(access_token)

    def remove_item(self, item: Item) -> None:
        with self.lock:
            item.removed = True

    # ---- item errors ----------------------------------------------------------------------

    def require_login(self, item: Item) -> None:
        """Put the Item into ITEM_LOGIN_REQUIRED; an ITEM ERROR webhook goes out."""
        with self.lock:
            item.error = errors.item_login_required()
        self.emit_item_webhook(item, "ERROR")

    def repair_login(self, item: Item) -> None:
        with self.lock:
            was_broken = item.error is not None
            item.error = None
        if was_broken:
            self.emit_item_webhook(item, "LOGIN_REPAIRED")

    # ---- activity -------------------------------------------------------------------------

    def add_transactions(self, item: Item, specs: list[dict[str, Any]]) -> list[dict[str, Any]]:
        if len(specs) > MAX_TRANSACTIONS_PER_CALL:
            raise errors.invalid_field(f"at most {MAX_TRANSACTIONS_PER_CALL} transactions a call")
        with self.lock:
            built = [self._build(item, spec) for spec in specs]
            ids = [t["transaction_id"] for t in built]
            if len(set(ids)) != len(ids):
                raise errors.invalid_field("duplicate transaction_id in one call")
            for transaction in built:
                if item.log.current(transaction["transaction_id"]) is not None:
                    raise errors.invalid_field(f"{transaction['transaction_id']} already exists")
            visible = [t for t in built if self._pulled(item, t)]
            item.held += [t for t in built if not self._pulled(item, t)]
            for transaction in visible:
                item.log.add(transaction)
        if visible:
            self._sync_updates_available(item)
        return built

    @staticmethod
    def _pulled(item: Item, transaction: dict[str, Any]) -> bool:
        """Whether Plaid has pulled this transaction yet, given the Item's update status."""
        if item.update_status == HISTORICAL:
            return True
        if item.update_status == NOT_READY:
            return False
        oldest = utc_now().date() - dt.timedelta(days=INITIAL_PULL_DAYS)
        return dt.date.fromisoformat(transaction["date"]) >= oldest

    def advance_update(self, item: Item) -> str:
        """The next pull completes: NOT_READY -> INITIAL_UPDATE_COMPLETE -> HISTORICAL_..."""
        with self.lock:
            following = {NOT_READY: INITIAL, INITIAL: HISTORICAL, HISTORICAL: HISTORICAL}
            item.update_status = following[item.update_status]
            ready = [t for t in item.held if self._pulled(item, t)]
            item.held = [t for t in item.held if not self._pulled(item, t)]
            for transaction in sorted(ready, key=lambda t: t["date"]):
                item.log.add(transaction)
            status = item.update_status
        self._sync_updates_available(item)
        return status

    def inject_sync_error(self, item: Item, error_code: str, times: int) -> None:
        if error_code not in errors.SYNC_FAULTS:
            raise errors.invalid_field(f"error_code must be one of {', '.join(errors.SYNC_FAULTS)}")
        if not 1 <= times <= MAX_SYNC_FAULTS:
            raise errors.invalid_field(f"times must be between 1 and {MAX_SYNC_FAULTS}")
        with self.lock:
            item.sync_faults += [error_code] * times

    def _build(self, item: Item, spec: dict[str, Any]) -> dict[str, Any]:
        spec = dict(spec)
        account_id = spec.pop("account_id", None) or item.card_account_id
        if account_id not in item.account_ids():
            raise errors.invalid_field(f"account_id {account_id} is not an account of this Item")
        try:
            return build_transaction(account_id=account_id, **spec)
        except TypeError as exc:
            raise errors.invalid_field(f"bad transaction fields: {exc}") from exc

    def post_pending(
        self, item: Item, pending_transaction_id: str, changes: dict[str, Any]
    ) -> dict[str, Any]:
        """Settle a pending transaction: it is removed and a posted one points back at it."""
        with self.lock:
            pending = item.log.current(pending_transaction_id)
            if pending is None or not pending["pending"]:
                raise errors.invalid_field(f"no pending transaction {pending_transaction_id}")
            spec = {key: pending[key] for key in POSTING_FIELDS}
            spec["date"] = dt.datetime.now(dt.UTC).date().isoformat()
            spec.update(changes)
            spec.update(pending=False, pending_transaction_id=pending_transaction_id)
            posted = self._build(item, spec)
            if item.log.current(posted["transaction_id"]) is not None:
                raise errors.invalid_field(f"{posted['transaction_id']} already exists")
            item.log.remove(pending_transaction_id)
            item.log.add(posted)
        self._sync_updates_available(item)
        return posted

    def modify_transaction(
        self, item: Item, transaction_id: str, changes: dict[str, Any]
    ) -> dict[str, Any]:
        if "transaction_id" in changes or "account_id" in changes:
            raise errors.invalid_field("transaction_id and account_id cannot change")
        with self.lock:
            current = item.log.current(transaction_id)
            if current is None:
                raise errors.invalid_field(f"no current transaction {transaction_id}")
            spec = {key: current[key] for key in REBUILD_FIELDS}
            spec.update(changes)
            modified = self._build(item, spec)
            item.log.modify(modified)
        self._sync_updates_available(item)
        return modified

    def remove_transaction(self, item: Item, transaction_id: str) -> None:
        with self.lock:
            item.log.remove(transaction_id)
        self._sync_updates_available(item)

    def sync(self, item: Item, cursor: str | None, count: int, account_id: str | None) -> SyncPage:
        with self.lock:
            if account_id is not None and account_id not in item.account_ids():
                raise errors.invalid_field(f"account_id {account_id} is not in this Item")
            if item.sync_faults:
                fault = errors.SYNC_FAULTS[item.sync_faults.pop(0)]
                if fault is None:
                    raise errors.ConnectionDrop()
                raise fault()
            if item.update_status == NOT_READY:
                # Nothing pulled yet: an empty page and an empty cursor, as Plaid answers.
                return SyncPage([], [], [], "", False)
            forced = item.force_mutation_error
            try:
                page = sync_page(
                    item.log,
                    item.item_id,
                    cursor,
                    count,
                    account_id=account_id,
                    force_mutation_error=forced,
                )
            except errors.PlaidAPIError as exc:
                if exc.error_code == "TRANSACTIONS_SYNC_MUTATION_DURING_PAGINATION":
                    item.force_mutation_error = False
                raise
            item.last_sync_at = iso(utc_now())
            return page

    # ---- webhooks -------------------------------------------------------------------------

    def _sync_updates_available(self, item: Item) -> None:
        self.emit_transactions_webhook(item, "SYNC_UPDATES_AVAILABLE")

    def emit_transactions_webhook(self, item: Item, code: str) -> bool:
        with self.lock:
            status = item.update_status
        body = transactions_webhook_body(
            item.item_id,
            code,
            initial_update_complete=status != NOT_READY,
            historical_update_complete=status == HISTORICAL,
        )
        return self._send(item, body)

    def emit_item_webhook(
        self, item: Item, code: str, error: errors.PlaidAPIError | None = None
    ) -> bool:
        error_body = (error or item.error or errors.item_login_required()).body(
            None, in_webhook=True
        )
        return self._send(item, item_webhook_body(item.item_id, code, error_body, item.webhook))

    def _send(self, item: Item, body: dict[str, Any]) -> bool:
        with self.lock:
            url = item.webhook
            if not url or item.removed:
                return False
            item.last_webhook = (iso(utc_now()), body["webhook_code"])
        self._emit(url, body)
        return True
