"""In-memory state behind one lock: objects by kind, events, idempotency records, counters.

Every collection is bounded: past `max_objects` per kind (or `max_events`,
`max_idempotency_keys`) the oldest entry is evicted, so a long-running demo cannot grow
without limit.
"""

from __future__ import annotations

import copy
import json
import secrets
import string
import threading
import time
from collections import Counter, OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from . import errors

PREFIXES = {
    "account": "acct",
    "customer": "cus",
    "customer_balance_transaction": "cbtxn",
    "event": "evt",
    "invoice": "in",
    "invoiceitem": "ii",
    "payment_method": "pm",
    "setup_intent": "seti",
    "transfer": "tr",
}
KIND_BY_PREFIX = {prefix: kind for kind, prefix in PREFIXES.items()}
LABELS = {
    "invoiceitem": "invoice item",
    "setup_intent": "setupintent",
    "payment_method": "PaymentMethod",
}
_ID_LENGTHS = {"cus": 14, "acct": 16}
_ALPHABET = string.ascii_letters + string.digits
# The account's default API version: events made without a request (scenario calls) are in
# it. Objects have the current shape (stripe-fixtures3.json: invoices without `paid`, with
# `amount_overpaid`, so 2025-03-31.basil or later); the stripe SDK in use pins this version.
DEFAULT_API_VERSION = "2026-10-28.endive"


def random_token(length: int) -> str:
    return "".join(secrets.choice(_ALPHABET) for _ in range(length))


def new_id(prefix: str) -> str:
    return f"{prefix}_{random_token(_ID_LENGTHS.get(prefix, 24))}"


def kind_of(obj_id: str) -> str | None:
    return KIND_BY_PREFIX.get(obj_id.split("_", 1)[0]) if "_" in obj_id else None


def snapshot(obj: Any) -> Any:
    return copy.deepcopy(obj)


def commit(original: dict[str, Any], draft: dict[str, Any]) -> dict[str, Any]:
    """Apply an edited copy in place: updates validate on a draft, so a 400 changes nothing."""
    original.clear()
    original.update(draft)
    return original


@dataclass
class RequestContext:
    """Who is calling and how: carried from the HTTP layer into handlers."""

    api_key: str
    request_id: str | None = None
    idempotency_key: str | None = None
    stripe_version: str | None = None


@dataclass
class IdempotencyRecord:
    endpoint: str  # "POST /v1/customers"
    fingerprint: str  # canonical JSON of the parsed parameters
    status: int
    body: bytes
    request_id: str
    created_at: float = field(default_factory=time.time)


class EventSink(Protocol):
    def endpoints_for(self, event_type: str) -> int: ...

    def enqueue(self, event_id: str, event_type: str, payload: bytes) -> None: ...


class Store:
    def __init__(
        self,
        *,
        max_objects: int = 20_000,
        max_events: int = 10_000,
        max_idempotency_keys: int = 10_000,
        idempotency_ttl_seconds: float = 24 * 3600,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.lock = threading.RLock()
        self.max_objects = max_objects
        self.max_events = max_events
        self.max_idempotency_keys = max_idempotency_keys
        self.idempotency_ttl_seconds = idempotency_ttl_seconds
        self.clock = clock
        self.sink: EventSink | None = None
        self.base_url = ""  # set by the server once bound; used in hosted_invoice_url
        self.reset()

    def reset(self) -> None:
        with self.lock:
            self._objects: dict[str, OrderedDict[str, dict[str, Any]]] = {}
            self._idempotency: OrderedDict[tuple[str, str], IdempotencyRecord] = OrderedDict()
            self.created: Counter[str] = Counter()
            self.failing_transfers: dict[str, str] = {}
            # The platform's available balance per currency for transfers; None: unlimited
            # (the default, so scenarios that do not fund the platform still pay out).
            self.platform_balance: dict[str, int] | None = None
            self.idempotent_replays = 0
            self.platform_account_id = "acct_" + random_token(16)

    # ---- objects --------------------------------------------------------------------------

    def now(self) -> int:
        return int(self.clock())

    def insert(self, obj: dict[str, Any]) -> dict[str, Any]:
        kind = obj["object"]
        table = self._objects.setdefault(kind, OrderedDict())
        table[obj["id"]] = obj
        self.created[kind] += 1
        limit = self.max_events if kind == "event" else self.max_objects
        while len(table) > limit:
            table.popitem(last=False)
        return obj

    def get(self, kind: str, obj_id: str) -> dict[str, Any] | None:
        obj = self._objects.get(kind, OrderedDict()).get(obj_id)
        if obj is None or obj.get("deleted"):
            return None
        return obj

    def require(
        self, kind: str, obj_id: Any, *, param: str = "id", status: int = 404
    ) -> dict[str, Any]:
        if not obj_id:
            raise errors.missing(param)
        if not isinstance(obj_id, str):
            raise errors.invalid(f"Invalid string: {obj_id!r}", param=param)
        obj = self.get(kind, obj_id)
        if obj is None:
            raise errors.no_such(LABELS.get(kind, kind), obj_id, param=param, status=status)
        return obj

    def values(self, kind: str) -> list[dict[str, Any]]:
        """Live objects of a kind, newest first (Stripe's list order)."""
        table = self._objects.get(kind, OrderedDict())
        return [obj for obj in reversed(table.values()) if not obj.get("deleted")]

    def remove(self, kind: str, obj_id: str) -> None:
        self._objects.get(kind, OrderedDict()).pop(obj_id, None)

    def lookup_any(self, obj_id: str) -> dict[str, Any] | None:
        kind = kind_of(obj_id)
        return self.get(kind, obj_id) if kind else None

    def counters(self) -> dict[str, Any]:
        with self.lock:
            live = {kind: len(self.values(kind)) for kind in self._objects}
            return {
                "created": dict(self.created),
                "live": live,
                "idempotency_keys": len(self._idempotency),
                "idempotent_replays": self.idempotent_replays,
            }

    # ---- events ---------------------------------------------------------------------------

    def emit(
        self,
        event_type: str,
        obj: dict[str, Any],
        ctx: RequestContext | None,
        *,
        previous_attributes: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        data: dict[str, Any] = {"object": snapshot(obj)}
        if previous_attributes:
            data["previous_attributes"] = snapshot(previous_attributes)
        pending = self.sink.endpoints_for(event_type) if self.sink else 0
        event: dict[str, Any] = {
            "id": new_id("evt"),
            "object": "event",
            "api_version": (ctx.stripe_version if ctx else None) or DEFAULT_API_VERSION,
            "created": self.now(),
            "data": data,
            "livemode": False,
            "pending_webhooks": pending,
            "request": {
                "id": ctx.request_id if ctx else None,
                "idempotency_key": ctx.idempotency_key if ctx else None,
            },
            "type": event_type,
        }
        self.insert(event)
        if self.sink and pending:
            payload = json.dumps(event, indent=2).encode()
            self.sink.enqueue(event["id"], event_type, payload)
        return event

    def webhook_delivered(self, event_id: str) -> None:
        with self.lock:
            event = self.get("event", event_id)
            if event and event["pending_webhooks"] > 0:
                event["pending_webhooks"] -= 1

    # ---- idempotency ----------------------------------------------------------------------

    def idempotency_get(self, api_key: str, key: str) -> IdempotencyRecord | None:
        record = self._idempotency.get((api_key, key))
        if record is None:
            return None
        if self.clock() - record.created_at >= self.idempotency_ttl_seconds:
            del self._idempotency[(api_key, key)]
            return None
        return record

    def idempotency_put(self, api_key: str, key: str, record: IdempotencyRecord) -> None:
        self._idempotency[(api_key, key)] = record
        self._idempotency.move_to_end((api_key, key))
        while len(self._idempotency) > self.max_idempotency_keys:
            self._idempotency.popitem(last=False)

    def expire_idempotency_keys(
        self,
        *,
        key: str | None = None,
        api_key: str | None = None,
        older_than_seconds: float | None = None,
    ) -> int:
        """Forget stored idempotent results, as Stripe does after 24 hours; returns the count."""
        with self.lock:
            now = self.clock()
            doomed = [
                k
                for k, record in self._idempotency.items()
                if (key is None or k[1] == key)
                and (api_key is None or k[0] == api_key)
                and (older_than_seconds is None or now - record.created_at >= older_than_seconds)
            ]
            for k in doomed:
                del self._idempotency[k]
            return len(doomed)
