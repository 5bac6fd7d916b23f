"""`StripeStandin`: start/stop the server, configure webhooks, script scenarios from Python.

    with StripeStandin() as stripe_standin:
        client = stripe.StripeClient(
            stripe_standin.api_key,
            base_addresses={"api": stripe_standin.url, "files": stripe_standin.url,
                            "connect": stripe_standin.url},
        )
        client.v1.customers.create({"email": "a@example.com"})

Module-level use works too: `stripe.api_key = standin.api_key; stripe.api_base = standin.url`.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable, Iterable
from types import TracebackType
from typing import Any

from . import errors, lifecycle
from .faults import Faults
from .server import StripeHTTPServer
from .store import Store, snapshot
from .webhooks import DeliveryAttempt, WebhookDispatcher, WebhookEndpoint

TRANSFER_FAILURE_MODES = ("error", "reverse")


class StripeStandin:
    """A local Stripe: the real `stripe` SDK works against `url` unmodified."""

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        api_keys: Iterable[str] | None = None,
        webhook_secret: str | None = None,
        webhook_urls: Iterable[str] = (),
        max_objects: int = 20_000,
        idempotency_ttl_seconds: float = 24 * 3600,
        webhook_max_attempts: int = 3,
        webhook_retry_delays: Iterable[float] = (0.2, 1.0),
        clock: Callable[[], float] = time.time,
    ) -> None:
        """`api_keys`: the keys accepted; None accepts any `sk_test_...`/`rk_test_...` key.

        `clock` gives `created` timestamps and idempotency-key ages (a fake one in tests).
        """
        self.host = host
        self.port = port
        self.api_keys = frozenset(api_keys) if api_keys is not None else None
        self.api_key = (
            sorted(self.api_keys)[0]
            if self.api_keys
            else "sk_test_standin_" + secrets.token_hex(12)
        )
        # What a browser holds (Stripe.js): creates card PaymentMethods and confirms a
        # SetupIntent with its client secret, nothing more (see browser.py).
        self.publishable_key = "pk_test_standin_" + secrets.token_hex(12)
        self.webhook_secret = webhook_secret or "whsec_" + secrets.token_hex(16)
        self.store = Store(
            max_objects=max_objects, idempotency_ttl_seconds=idempotency_ttl_seconds, clock=clock
        )
        self.webhooks = WebhookDispatcher(
            max_attempts=webhook_max_attempts,
            retry_delays=webhook_retry_delays,
            on_delivered=self.store.webhook_delivered,
        )
        self.store.sink = self.webhooks
        self.faults = Faults()
        for url in webhook_urls:
            self.add_webhook_endpoint(url)
        self._server: StripeHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # ---- lifecycle ------------------------------------------------------------------------

    def start(self) -> StripeStandin:
        """Bind (an ephemeral port unless one was given) and serve from a daemon thread."""
        if self._server is not None:
            return self
        self._bind()
        assert self._server is not None
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="stripe-standin",
            daemon=True,
        )
        self._thread.start()
        return self

    def _bind(self) -> None:
        self._server = StripeHTTPServer((self.host, self.port), self)
        self.port = self._server.server_address[1]
        self.store.base_url = self.url
        self.webhooks.start()

    def serve_forever(self, on_ready: Callable[[StripeStandin], None] | None = None) -> None:
        """Serve in the calling thread (the CLI); `stop()` from another thread ends it."""
        if self._server is None:
            self._bind()
        assert self._server is not None
        if on_ready is not None:
            on_ready(self)
        self._server.serve_forever()

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        self.webhooks.stop()

    def __enter__(self) -> StripeStandin:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def accepts(self, api_key: str) -> bool:
        if self.api_keys is not None:
            return any(secrets.compare_digest(api_key, k) for k in self.api_keys)
        return api_key.startswith(("sk_test_", "rk_test_")) and len(api_key) > len("sk_test_")

    def client(self, **kwargs: Any) -> Any:
        """A real `stripe.StripeClient` pointed at this stand-in."""
        import stripe

        return stripe.StripeClient(
            kwargs.pop("api_key", self.api_key),
            base_addresses={"api": self.url, "files": self.url, "connect": self.url},
            **kwargs,
        )

    # ---- webhooks -------------------------------------------------------------------------

    def add_webhook_endpoint(
        self,
        url: str,
        *,
        secret: str | None = None,
        enabled_events: Iterable[str] | None = None,
        api_version: str | None = None,
    ) -> None:
        """An endpoint; pinned to `api_version`, it gets events rendered in that version."""
        events = tuple(enabled_events) if enabled_events else ("*",)
        self.webhooks.add_endpoint(
            WebhookEndpoint(url, secret or self.webhook_secret, events, api_version)
        )

    def set_webhook_endpoints(
        self,
        urls: Iterable[str],
        *,
        secret: str | None = None,
        enabled_events: Iterable[str] | None = None,
    ) -> None:
        events = tuple(enabled_events) if enabled_events else ("*",)
        self.webhooks.set_endpoints(
            WebhookEndpoint(url, secret or self.webhook_secret, events) for url in urls
        )

    @property
    def webhook_endpoints(self) -> list[WebhookEndpoint]:
        return self.webhooks.endpoints

    @property
    def deliveries(self) -> list[DeliveryAttempt]:
        """Every webhook delivery attempt so far, oldest first."""
        return self.webhooks.attempts

    def wait_for_webhooks(self, timeout: float = 5.0) -> bool:
        return self.webhooks.wait_idle(timeout)

    # ---- state and scenarios --------------------------------------------------------------

    def reset(self) -> None:
        """Forget objects, events, idempotency keys, failing accounts and delivery records.

        Accepted API keys, the webhook secret and the webhook endpoints are kept.
        """
        with self.store.lock:
            self.store.reset()
            self.webhooks.reset()
            self.faults.reset()

    def counters(self) -> dict[str, Any]:
        counters = self.store.counters()
        attempts = self.deliveries
        counters["webhook_attempts"] = len(attempts)
        counters["webhook_failures"] = sum(1 for a in attempts if not a.ok)
        return counters

    def events(self, event_type: str | None = None) -> list[dict[str, Any]]:
        """Events emitted so far, oldest first."""
        with self.store.lock:
            found = list(reversed(self.store.values("event")))
            return snapshot([e for e in found if event_type in (None, e["type"])])

    def objects(self, kind: str) -> list[dict[str, Any]]:
        """Live objects of one kind (`customer`, `invoice`, ...), newest first."""
        with self.store.lock:
            return snapshot(self.store.values(kind))

    def expire_idempotency_keys(
        self,
        key: str | None = None,
        *,
        api_key: str | None = None,
        older_than_seconds: float | None = None,
    ) -> int:
        """Forget stored idempotent results (all by default), as Stripe does after 24 h."""
        return self.store.expire_idempotency_keys(
            key=key, api_key=api_key, older_than_seconds=older_than_seconds
        )

    def fail_transfers_to(self, account_id: str, mode: str | None = "error") -> None:
        """Make transfers to `account_id` fail ("error" or "reverse"); None restores it."""
        if mode is not None and mode not in TRANSFER_FAILURE_MODES:
            raise errors.invalid(
                f"mode must be one of {', '.join(TRANSFER_FAILURE_MODES)} or off", param="mode"
            )
        with self.store.lock:
            self.store.require("account", account_id)
            if mode is None:
                self.store.failing_transfers.pop(account_id, None)
            else:
                self.store.failing_transfers[account_id] = mode

    def inject(
        self, endpoint: str, kind: str, *, count: int = 1, delay_seconds: float = 0.0
    ) -> None:
        """Answer the next `count` requests to `endpoint` ("POST /v1/transfers") with a 429
        `rate_limit` or `lock_timeout`, or slow them by `delay_seconds` ("slow")."""
        self.faults.arm(endpoint, kind, count=count, delay_seconds=delay_seconds)

    def set_platform_balance(self, currency: str, amount: int | None) -> None:
        """Fund the platform's available balance in `currency` (transfers draw on it and
        answer `balance_insufficient` beyond it); None for every currency: unlimited."""
        with self.store.lock:
            if amount is None:
                self.store.platform_balance = None
                return
            balance = self.store.platform_balance or {}
            balance[currency.lower()] = amount
            self.store.platform_balance = balance

    def set_capability(self, account_id: str, name: str, status: str) -> None:
        """A connected account's capability: "active", "inactive" or "pending"."""
        with self.store.lock:
            self.store.require("account", account_id)["capabilities"][name] = status

    def pay_invoice(self, invoice_id: str, *, out_of_band: bool = True) -> dict[str, Any]:
        """Pay an invoice outside the API (bank transfer, hosted page): emits `invoice.paid`."""
        with self.store.lock:
            invoice = self.store.require("invoice", invoice_id)
            if invoice["status"] == "draft":
                lifecycle.finalize(self.store, None, invoice)
            if invoice["status"] != "paid":
                if invoice["status"] != "open":
                    raise errors.state_error(f"Invoice {invoice_id} is {invoice['status']}.")
                lifecycle.mark_paid(self.store, None, invoice, out_of_band=out_of_band)
            return snapshot(invoice)
