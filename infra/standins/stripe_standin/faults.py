"""Answers Stripe gives under load, on demand: 429 `rate_limit` and `lock_timeout`, a slow
request (so a second request with the same idempotency key meets 409
`idempotency_key_in_use`), and the in-flight key register itself.

A fault is armed for an endpoint (`"POST /v1/transfers"`, the route's method and template)
and fires on the next `count` matching requests. Stripe sends no `Stripe-Should-Retry`
header on a `rate_limit`, so the SDK does not retry it; it sends `Stripe-Should-Retry: true`
with a `lock_timeout`, and the SDK retries that and a 409 (a conflict), as against Stripe.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

from . import errors

FAULT_KINDS = ("rate_limit", "lock_timeout", "slow")


@dataclass(slots=True)
class Fault:
    endpoint: str
    kind: str
    count: int
    delay_seconds: float = 0.0


def rate_limit() -> errors.StripeError:
    return errors.StripeError(
        429,
        "Too many requests hit the API too quickly. We recommend an exponential backoff of "
        "your requests.",
        code="rate_limit",
    )


def lock_timeout() -> errors.StripeError:
    error = errors.StripeError(
        429,
        "This object cannot be accessed right now because another API request or Stripe "
        "process is currently accessing it. If you see this error intermittently, retry the "
        "request.",
        code="lock_timeout",
    )
    error.should_retry = True
    return error


def key_in_use(key: str) -> errors.StripeError:
    return errors.StripeError(
        409,
        "There is currently another in-progress request using this Idempotent Key (that "
        "probably means you submitted twice, and the other request is still going through): "
        f"{key}. Please try again later.",
        type_="idempotency_error",
        code="idempotency_key_in_use",
    )


class Faults:
    """Armed faults and the idempotency keys of requests being executed (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._armed: list[Fault] = []
        self._inflight: set[tuple[str, str]] = set()
        self.fired: list[tuple[str, str]] = []  # (endpoint, kind), oldest first

    def reset(self) -> None:
        with self._lock:
            self._armed.clear()
            self._inflight.clear()
            self.fired.clear()

    def arm(self, endpoint: str, kind: str, *, count: int = 1, delay_seconds: float = 0.0) -> None:
        if kind not in FAULT_KINDS:
            raise errors.invalid(f"kind must be one of {', '.join(FAULT_KINDS)}", param="kind")
        with self._lock:
            self._armed.append(Fault(endpoint, kind, max(1, count), delay_seconds))

    def take(self, endpoint: str) -> Fault | None:
        """The fault to apply to this request, if one is armed for its endpoint."""
        with self._lock:
            for fault in self._armed:
                if fault.endpoint == endpoint:
                    fault.count -= 1
                    if fault.count <= 0:
                        self._armed.remove(fault)
                    self.fired.append((endpoint, fault.kind))
                    return fault
        return None

    def enter(self, api_key: str, key: str) -> None:
        """Register an in-flight idempotency key; a second request with it is a 409."""
        with self._lock:
            if (api_key, key) in self._inflight:
                self.fired.append(("", "idempotency_key_in_use"))
                raise key_in_use(key)
            self._inflight.add((api_key, key))

    def leave(self, api_key: str, key: str) -> None:
        with self._lock:
            self._inflight.discard((api_key, key))


def apply(fault: Fault | None) -> None:
    """Raise the fault's error, or sleep for a slow one (the caller holds its key in flight)."""
    if fault is None:
        return
    if fault.kind == "rate_limit":
        raise rate_limit()
    if fault.kind == "lock_timeout":
        raise lock_timeout()
    time.sleep(min(fault.delay_seconds, 10.0))
