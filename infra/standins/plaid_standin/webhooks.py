"""Outgoing webhooks: signed with the current key and POSTed from one background thread.

Deliveries happen in the order they were queued. Each attempt is recorded (status or error);
there are no retries — a test that wants one fires the webhook again.
"""

from __future__ import annotations

import datetime as dt
import json
import queue
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .jwt import KeyRing, sign_plaid_jwt

MAX_RECORDED_DELIVERIES = 10_000
DELIVERY_TIMEOUT_S = 10.0
_STOP = object()


def webhook_body_bytes(body: dict[str, Any]) -> bytes:
    """Serialized the way Plaid sends it: pretty-printed with sorted keys. Hash these bytes."""
    return json.dumps(body, indent=2, sort_keys=True).encode()


def transactions_webhook_body(
    item_id: str,
    code: str,
    *,
    initial_update_complete: bool = True,
    historical_update_complete: bool = True,
) -> dict[str, Any]:
    body: dict[str, Any] = {"webhook_type": "TRANSACTIONS", "webhook_code": code}
    body["item_id"] = item_id
    if code == "SYNC_UPDATES_AVAILABLE":
        body["initial_update_complete"] = initial_update_complete
        body["historical_update_complete"] = historical_update_complete
    elif code == "DEFAULT_UPDATE":
        body["error"] = None
        body["new_transactions"] = 0
    body["environment"] = "sandbox"
    return body


def item_webhook_body(
    item_id: str, code: str, error: dict[str, Any], webhook_url: str | None
) -> dict[str, Any]:
    body: dict[str, Any] = {"webhook_type": "ITEM", "webhook_code": code}
    body["item_id"] = item_id
    if code == "ERROR":
        body["error"] = error
    elif code == "PENDING_DISCONNECT":
        body["reason"] = "INSTITUTION_TOKEN_EXPIRATION"
        disconnect = dt.datetime.now(dt.UTC) + dt.timedelta(days=7)
        body["disconnect_time"] = disconnect.strftime("%Y-%m-%dT%H:%M:%SZ")
    elif code == "WEBHOOK_UPDATE_ACKNOWLEDGED":
        body["new_webhook_url"] = webhook_url
        body["error"] = None
    body["environment"] = "sandbox"
    return body


@dataclass
class WebhookDelivery:
    url: str
    body: dict[str, Any]
    raw_body: bytes
    headers: dict[str, str]
    status: int | None = None
    error: str | None = None
    sent_at: float = field(default_factory=time.time)

    def as_json(self) -> dict[str, Any]:
        return {
            "url": self.url,
            "body": self.body,
            "raw_body": self.raw_body.decode(),
            "headers": self.headers,
            "status": self.status,
            "error": self.error,
            "sent_at": self.sent_at,
        }


class WebhookSender:
    def __init__(
        self, keys: KeyRing, on_body: Callable[[dict[str, Any]], None] | None = None
    ) -> None:
        self._keys = keys
        self._on_body = on_body  # e.g. spec validation in strict mode
        self._queue: queue.Queue[Any] = queue.Queue()
        self._deliveries: list[WebhookDelivery] = []
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)
        self._pending = 0
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._run, name="plaid-standin-webhooks", daemon=True
            )
            self._thread.start()

    def stop(self) -> None:
        if self._thread is not None:
            self._queue.put(_STOP)
            self._thread.join(timeout=DELIVERY_TIMEOUT_S + 1)
            self._thread = None

    def enqueue(self, url: str, body: dict[str, Any]) -> None:
        with self._lock:
            self._pending += 1
        self._queue.put((url, body))

    def deliveries(self) -> list[WebhookDelivery]:
        with self._lock:
            return list(self._deliveries)

    def clear(self) -> None:
        with self._lock:
            self._deliveries.clear()

    def wait_idle(self, timeout: float) -> bool:
        """Block until every queued webhook has been attempted."""
        with self._idle:
            return self._idle.wait_for(lambda: self._pending == 0, timeout=timeout)

    def wait_for(self, count: int, timeout: float) -> list[WebhookDelivery]:
        with self._idle:
            self._idle.wait_for(lambda: len(self._deliveries) >= count, timeout=timeout)
            return list(self._deliveries)

    def _run(self) -> None:
        while True:
            job = self._queue.get()
            if job is _STOP:
                return
            url, body = job
            try:
                delivery = self._deliver(url, body)
            except Exception as exc:  # never let one webhook kill the sender
                delivery = WebhookDelivery(url, body, b"", {}, error=repr(exc))
            with self._idle:
                self._deliveries.append(delivery)
                del self._deliveries[:-MAX_RECORDED_DELIVERIES]
                self._pending -= 1
                self._idle.notify_all()

    def _deliver(self, url: str, body: dict[str, Any]) -> WebhookDelivery:
        if self._on_body is not None:
            self._on_body(body)
        raw = webhook_body_bytes(body)
        headers = {
            "Content-Type": "application/json",
            "Plaid-Verification": sign_plaid_jwt(raw, self._keys.current),
            "User-Agent": "Plaid Verifier",
        }
        delivery = WebhookDelivery(url, body, raw, headers)
        if not url.startswith(("http://", "https://")):
            delivery.error = f"unsupported webhook URL {url!r}"
            return delivery
        request = urllib.request.Request(url, data=raw, headers=headers, method="POST")  # noqa: S310
        try:
            with urllib.request.urlopen(request, timeout=DELIVERY_TIMEOUT_S) as response:  # noqa: S310
                delivery.status = response.status
        except urllib.error.HTTPError as exc:
            delivery.status = exc.code
            exc.close()
        except (urllib.error.URLError, OSError) as exc:
            delivery.error = str(exc)
        return delivery
