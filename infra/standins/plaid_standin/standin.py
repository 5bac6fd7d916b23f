"""`PlaidStandin`: start/stop the server and script scenarios from Python.

Every scenario method takes `item` as an item id or an access token, and has a matching
control endpoint under `/_standin/` (see `server.CONTROL_METHODS`) taking the same keyword
arguments as JSON.
"""

from __future__ import annotations

import os
import secrets
import threading
from collections import deque
from dataclasses import dataclass
from types import TracebackType
from typing import Any

from . import errors
from .jwt import KeyRing, SigningKey
from .schema import SpecViolationError, load_spec, validate_webhook
from .server import StandinHTTPServer
from .state import StandinState
from .webhooks import WebhookDelivery, WebhookSender

STRICT_ENV = "CLO_PLAID_STANDIN_STRICT"
MAX_RECORDED_RESPONSES = 20_000


@dataclass(frozen=True)
class LinkedItem:
    item_id: str
    access_token: str
    card_account_id: str
    checking_account_id: str
    accounts: list[dict[str, Any]]


@dataclass(frozen=True)
class RecordedResponse:
    path: str
    status: int
    body: dict[str, Any]


@dataclass(frozen=True)
class Violation:
    where: str
    problems: list[str]
    body: Any


class PlaidStandin:
    """A local Plaid: the real `plaid-python` client works against `url` unmodified."""

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        client_id: str | None = None,
        secret: str | None = None,
        strict: bool | None = None,
    ) -> None:
        self.host = host
        self.port = port
        self.client_id = client_id or secrets.token_hex(12)
        self.secret = secret or secrets.token_hex(15)
        if strict is None:
            strict = os.environ.get(STRICT_ENV, "").lower() in ("1", "true", "yes")
        self.strict = strict
        self.keys = KeyRing()
        self.webhooks = WebhookSender(self.keys, on_body=self._check_webhook if strict else None)
        self.state = StandinState(emit=self.webhooks.enqueue)
        self._responses: deque[RecordedResponse] = deque(maxlen=MAX_RECORDED_RESPONSES)
        self._violations: list[Violation] = []
        self._record_lock = threading.Lock()
        self._server: StandinHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # ---- lifecycle ------------------------------------------------------------------------

    def start(self) -> PlaidStandin:
        if self._server is not None:
            return self
        if self.strict:
            load_spec()  # fail now, not inside the first request
        self._server = StandinHTTPServer((self.host, self.port), self)
        self.port = self._server.server_address[1]
        self.webhooks.start()
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"plaid-standin-{self.port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        """Run in the calling thread until interrupted (used by `python -m`)."""
        self.start()
        assert self._thread is not None
        try:
            while self._thread.is_alive():
                self._thread.join(timeout=0.5)
        finally:
            self.stop()

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.close_connections()
            server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        self.webhooks.stop()

    def __enter__(self) -> PlaidStandin:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()
        if exc_type is None and self.strict:
            self.assert_no_violations()

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def configuration(self) -> Any:
        """A `plaid.Configuration` pointed at this stand-in with its credentials."""
        import plaid

        return plaid.Configuration(
            host=self.url, api_key={"clientId": self.client_id, "secret": self.secret}
        )

    # ---- recording and strict mode --------------------------------------------------------

    def checked_response(
        self, path: str, status: int, body: dict[str, Any]
    ) -> tuple[int, dict[str, Any]]:
        """Record a response; in strict mode, one the spec does not allow becomes a 500."""
        if self.strict:
            spec = load_spec()
            name = spec.response_schema_name(path, status)
            problems = spec.problems(name, body)
            if problems:
                where = f"POST {path} -> {status} ({name})"
                self._add_violation(Violation(where, problems, body))
                error = errors.internal_error(f"stand-in response violates the spec: {where}")
                status, body = error.status, error.body(body.get("request_id"))
        with self._record_lock:
            self._responses.append(RecordedResponse(path, status, body))
        return status, body

    def _check_webhook(self, body: dict[str, Any]) -> None:
        try:
            validate_webhook(body)
        except SpecViolationError as exc:
            self._add_violation(Violation(exc.where, exc.problems, body))

    def _add_violation(self, violation: Violation) -> None:
        with self._record_lock:
            self._violations.append(violation)

    @property
    def responses(self) -> list[RecordedResponse]:
        """Every Plaid API response sent (most recent MAX_RECORDED_RESPONSES)."""
        with self._record_lock:
            return list(self._responses)

    @property
    def violations(self) -> list[Violation]:
        with self._record_lock:
            return list(self._violations)

    def violation_list(self) -> list[dict[str, Any]]:
        return [{"where": v.where, "problems": v.problems} for v in self.violations]

    def assert_no_violations(self) -> None:
        found = self.violations
        if found:
            raise SpecViolationError(
                f"{len(found)} spec violation(s)",
                [f"{v.where}: {p}" for v in found for p in v.problems],
            )

    # ---- items and tokens -----------------------------------------------------------------

    def create_item(
        self,
        *,
        institution_id: str = "ins_109508",
        products: list[str] | None = None,
        webhook: str | None = None,
        card_mask: str = "3333",
        checking_mask: str = "0000",
    ) -> LinkedItem:
        """Link an Item without going through HTTP: public token created and exchanged."""
        public_token = self.state.create_item(
            institution_id=institution_id,
            products=products,
            webhook=webhook,
            card_mask=card_mask,
            checking_mask=checking_mask,
        )
        access_token, item_id = self.state.exchange_public_token(public_token)
        item = self.state.resolve(item_id)
        return LinkedItem(
            item_id=item_id,
            access_token=access_token,
            card_account_id=item.card_account_id,
            checking_account_id=next(
                a["account_id"] for a in item.accounts if a["type"] == "depository"
            ),
            accounts=[dict(a) for a in item.accounts],
        )

    def revoke_access_token(self, access_token: str) -> None:
        """Later calls with this token get INVALID_ACCESS_TOKEN."""
        self.state.revoke_access_token(access_token)

    def require_login(self, item: str) -> None:
        """The Item goes to ITEM_LOGIN_REQUIRED (ITEM_ERROR, HTTP 400) until repaired."""
        self.state.require_login(self.state.resolve(item))

    def repair_login(self, item: str) -> None:
        self.state.repair_login(self.state.resolve(item))

    def force_sync_mutation_error(self, item: str) -> None:
        """The next `/transactions/sync` call continuing a pagination (a cursor from a page
        with `has_more: true`) fails with TRANSACTIONS_SYNC_MUTATION_DURING_PAGINATION."""
        found = self.state.resolve(item)
        with self.state.lock:
            found.force_mutation_error = True

    def items_start_not_ready(self, not_ready: bool = True) -> None:
        """Items linked from now on start NOT_READY, as real ones do: the first sync returns
        nothing and history arrives with `advance_transactions_update`."""
        with self.state.lock:
            self.state.new_item_update_status = (
                "NOT_READY" if not_ready else "HISTORICAL_UPDATE_COMPLETE"
            )

    def advance_transactions_update(self, item: str) -> str:
        """Plaid finishes its next pull of the Item (the last 30 days, then the rest);
        a SYNC_UPDATES_AVAILABLE webhook goes out. Returns the new update status."""
        return self.state.advance_update(self.state.resolve(item))

    def inject_sync_error(self, item: str, error_code: str, times: int = 1) -> None:
        """The next `times` /transactions/sync calls for the Item fail with `error_code`:
        RATE_LIMIT_EXCEEDED (429), INSTITUTION_DOWN (400), INTERNAL_SERVER_ERROR (500) or
        CONNECTION_RESET (the connection closes without an answer)."""
        self.state.inject_sync_error(self.state.resolve(item), error_code, times)

    def fire_item_error(self, item: str, error_code: str = "ITEM_LOGIN_REQUIRED") -> bool:
        """An ITEM ERROR webhook carrying this error (its `status` filled, as in webhooks)."""
        if error_code not in errors.ITEM_ERRORS:
            raise errors.invalid_field(f"error_code must be one of {', '.join(errors.ITEM_ERRORS)}")
        found = self.state.resolve(item)
        return self.state.emit_item_webhook(found, "ERROR", errors.ITEM_ERRORS[error_code]())

    def fire_webhook(self, item: str, webhook_code: str = "SYNC_UPDATES_AVAILABLE") -> bool:
        found = self.state.resolve(item)
        if webhook_code in ("SYNC_UPDATES_AVAILABLE", "DEFAULT_UPDATE"):
            return self.state.emit_transactions_webhook(found, webhook_code)
        return self.state.emit_item_webhook(found, webhook_code)

    # ---- card and bank activity -----------------------------------------------------------

    def add_transactions(
        self, item: str, transactions: list[dict[str, Any]]
    ) -> list[dict[str, Any]]:
        """Add many at once; one SYNC_UPDATES_AVAILABLE webhook for the batch."""
        return self.state.add_transactions(self.state.resolve(item), transactions)

    def add_transaction(self, item: str, **fields: Any) -> dict[str, Any]:
        """One Plaid transaction; fields as `txlog.build_transaction` (amount, name, ...)."""
        return self.add_transactions(item, [fields])[0]

    def add_pending_transaction(self, item: str, **fields: Any) -> dict[str, Any]:
        return self.add_transaction(item, **{**fields, "pending": True})

    def add_posted_transaction(self, item: str, **fields: Any) -> dict[str, Any]:
        """A posted transaction with no pending predecessor (`pending_transaction_id: null`)."""
        return self.add_transaction(
            item, **{**fields, "pending": False, "pending_transaction_id": None}
        )

    def add_refund(self, item: str, *, amount: Any, **fields: Any) -> dict[str, Any]:
        """A credit to the card: Plaid reports it with a negative amount."""
        from .txlog import as_amount

        return self.add_posted_transaction(item, amount=-abs(as_amount(amount)), **fields)

    def post_pending_transaction(
        self, item: str, pending_transaction_id: str, **changes: Any
    ) -> dict[str, Any]:
        """Settle a pending transaction: `removed` gets the pending id, `added` a posted one
        whose `pending_transaction_id` points at it. Pass `amount=` for e.g. a tip."""
        return self.state.post_pending(self.state.resolve(item), pending_transaction_id, changes)

    def modify_transaction(self, item: str, transaction_id: str, **changes: Any) -> dict[str, Any]:
        return self.state.modify_transaction(self.state.resolve(item), transaction_id, changes)

    def modify_amount(self, item: str, transaction_id: str, amount: Any) -> dict[str, Any]:
        return self.modify_transaction(item, transaction_id, amount=amount)

    def remove_transaction(self, item: str, transaction_id: str) -> None:
        self.state.remove_transaction(self.state.resolve(item), transaction_id)

    def transactions(self, item: str) -> list[dict[str, Any]]:
        """The Item's current transactions (what a full sync from scratch would add)."""
        return self.state.resolve(item).log.current_all()

    # ---- webhooks and keys ----------------------------------------------------------------

    @property
    def signing_key(self) -> SigningKey:
        """The current webhook signing key (private half included, for crafting tests)."""
        return self.keys.current

    def rotate_webhook_key(self) -> dict[str, Any]:
        """A new current key; the previous one stays retrievable with `expired_at` set."""
        return self.keys.rotate().jwk()

    @property
    def deliveries(self) -> list[WebhookDelivery]:
        return self.webhooks.deliveries()

    def webhook_deliveries(self) -> list[dict[str, Any]]:
        return [d.as_json() for d in self.webhooks.deliveries()]

    def wait_for_webhooks(self, count: int, timeout: float = 5.0) -> list[WebhookDelivery]:
        """Deliveries so far, once at least `count` have been attempted (or on timeout)."""
        return self.webhooks.wait_for(count, timeout)

    def drain_webhooks(self, timeout: float = 5.0) -> bool:
        return self.webhooks.wait_idle(timeout)

    def reset(self) -> None:
        """Forget Items, tokens, deliveries and recordings. Signing keys are kept."""
        self.state.reset()
        self.webhooks.clear()
        with self._record_lock:
            self._responses.clear()
            self._violations.clear()
