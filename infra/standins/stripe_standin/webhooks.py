"""Webhook delivery, signed exactly like Stripe's.

Every attempt POSTs the event JSON with `Stripe-Signature: t=<unix>,v1=<hex>`, where v1 is
HMAC-SHA256 over `"<t>.<payload>"` keyed with the endpoint's `whsec_...` secret, so the real
`stripe.Webhook.construct_event(payload, header, secret)` accepts it. A non-2xx answer or a
connection error is retried (bounded attempts, growing delay) from background threads; every
attempt is recorded.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
import time
import urllib.error
import urllib.request
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass

import stripe

from .versions import render_event

log = logging.getLogger("infra.standins.stripe_standin")

USER_AGENT = "Stripe/1.0 (+https://stripe.com/docs/webhooks)"


def sign(payload: bytes, secret: str, timestamp: int | None = None) -> str:
    """The `Stripe-Signature` header value for `payload`, by the stripe SDK's own signer."""
    ts = int(time.time()) if timestamp is None else timestamp
    return stripe.WebhookSignature.generate_signature_header(payload.decode(), secret, ts)


@dataclass(frozen=True)
class WebhookEndpoint:
    url: str
    secret: str
    enabled_events: tuple[str, ...] = ("*",)
    api_version: str | None = None  # pinned: events rendered in it; None: as created

    def wants(self, event_type: str) -> bool:
        return any(
            pattern in ("*", event_type)
            or (pattern.endswith(".*") and event_type.startswith(pattern[:-1]))
            for pattern in self.enabled_events
        )


@dataclass(frozen=True)
class DeliveryAttempt:
    event_id: str
    event_type: str
    url: str
    attempt: int
    status: int | None  # HTTP status, None when the connection failed
    error: str | None
    at: float
    duration_ms: float

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300

    def as_dict(self) -> dict[str, object]:
        return {**asdict(self), "ok": self.ok}


@dataclass(frozen=True)
class _Job:
    endpoint: WebhookEndpoint
    event_id: str
    event_type: str
    payload: bytes
    attempt: int
    generation: int


class WebhookDispatcher:
    def __init__(
        self,
        *,
        max_attempts: int = 3,
        retry_delays: Iterable[float] = (0.2, 1.0),
        timeout_seconds: float = 3.0,
        workers: int = 2,
        max_records: int = 5_000,
        on_delivered: Callable[[str], None] | None = None,
    ) -> None:
        self.max_attempts = max_attempts
        self.retry_delays = tuple(retry_delays) or (0.2,)
        self.timeout_seconds = timeout_seconds
        self.on_delivered = on_delivered
        self._endpoints: list[WebhookEndpoint] = []
        self._attempts: deque[DeliveryAttempt] = deque(maxlen=max_records)
        self._queue: queue.Queue[_Job | None] = queue.Queue()
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)
        self._outstanding = 0
        self._generation = 0
        self._timers: set[threading.Timer] = set()
        self._workers = workers
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        with self._lock:
            if self._threads:
                return
            self._threads = [
                threading.Thread(
                    target=self._work, name=f"stripe-standin-webhooks-{i}", daemon=True
                )
                for i in range(self._workers)
            ]
        for thread in self._threads:
            thread.start()

    # ---- configuration --------------------------------------------------------------------

    @property
    def endpoints(self) -> list[WebhookEndpoint]:
        with self._lock:
            return list(self._endpoints)

    def add_endpoint(self, endpoint: WebhookEndpoint) -> None:
        with self._lock:
            self._endpoints = [e for e in self._endpoints if e.url != endpoint.url] + [endpoint]

    def set_endpoints(self, endpoints: Iterable[WebhookEndpoint]) -> None:
        with self._lock:
            self._endpoints = list(endpoints)

    # ---- the EventSink protocol used by the store ------------------------------------------

    def endpoints_for(self, event_type: str) -> int:
        with self._lock:
            return sum(1 for e in self._endpoints if e.wants(event_type))

    def enqueue(self, event_id: str, event_type: str, payload: bytes) -> None:
        with self._lock:
            targets = [e for e in self._endpoints if e.wants(event_type)]
            self._outstanding += len(targets)
            generation = self._generation
        for endpoint in targets:
            body = payload
            if endpoint.api_version is not None:
                pinned = render_event(json.loads(payload), endpoint.api_version)
                body = json.dumps(pinned, indent=2).encode()
            self._queue.put(_Job(endpoint, event_id, event_type, body, 1, generation))

    # ---- inspection -----------------------------------------------------------------------

    @property
    def attempts(self) -> list[DeliveryAttempt]:
        with self._lock:
            return list(self._attempts)

    def wait_idle(self, timeout: float = 5.0) -> bool:
        """Block until every queued delivery (retries included) has finished."""
        deadline = time.monotonic() + timeout
        with self._idle:
            while self._outstanding > 0:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._idle.wait(remaining)
        return True

    def reset(self) -> None:
        """Drop queued and scheduled deliveries and the attempt log (endpoints are kept)."""
        with self._idle:
            self._generation += 1
            for timer in self._timers:
                timer.cancel()
            self._timers.clear()
            self._attempts.clear()
            self._outstanding = 0
            self._idle.notify_all()

    def stop(self) -> None:
        self.reset()
        with self._lock:
            threads, self._threads = self._threads, []
        for _ in threads:
            self._queue.put(None)
        for thread in threads:
            thread.join(timeout=2)

    # ---- delivery -------------------------------------------------------------------------

    def _work(self) -> None:
        while True:
            job = self._queue.get()
            if job is None:
                return
            if job.generation != self._generation:
                continue
            try:
                self._deliver(job)
            except Exception:  # a bug here must not kill the worker
                log.exception("webhook delivery of %s failed unexpectedly", job.event_id)
                self._finish(job)

    def _deliver(self, job: _Job) -> None:
        started = time.monotonic()
        status: int | None = None
        error: str | None = None
        request = urllib.request.Request(  # noqa: S310 - endpoints are configured by the tester
            job.endpoint.url,
            data=job.payload,
            method="POST",
            headers={
                "Content-Type": "application/json; charset=utf-8",
                "User-Agent": USER_AGENT,
                "Stripe-Signature": sign(job.payload, job.endpoint.secret),
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_seconds) as response:  # noqa: S310
                status = response.status
                response.read()
        except urllib.error.HTTPError as exc:
            status, error = exc.code, f"HTTP {exc.code}"
        except (OSError, urllib.error.URLError) as exc:
            error = f"{type(exc).__name__}: {exc}"
        attempt = DeliveryAttempt(
            job.event_id,
            job.event_type,
            job.endpoint.url,
            job.attempt,
            status,
            error,
            time.time(),
            round((time.monotonic() - started) * 1000, 2),
        )
        with self._lock:
            if job.generation != self._generation:
                return
            self._attempts.append(attempt)
        if attempt.ok:
            if self.on_delivered:
                self.on_delivered(job.event_id)
            self._finish(job)
        elif job.attempt < self.max_attempts:
            delay = self.retry_delays[min(job.attempt - 1, len(self.retry_delays) - 1)]
            retry = _Job(
                job.endpoint,
                job.event_id,
                job.event_type,
                job.payload,
                job.attempt + 1,
                job.generation,
            )
            self._schedule(retry, delay)
        else:
            log.warning(
                "webhook %s to %s gave up after %d attempts",
                job.event_id,
                job.endpoint.url,
                job.attempt,
            )
            self._finish(job)

    def _schedule(self, job: _Job, delay: float) -> None:
        def fire() -> None:
            with self._lock:
                self._timers.discard(timer)
            self._queue.put(job)

        timer = threading.Timer(delay, fire)
        timer.daemon = True
        with self._lock:
            if job.generation != self._generation:
                return
            self._timers.add(timer)
        timer.start()

    def _finish(self, job: _Job) -> None:
        with self._idle:
            if job.generation == self._generation and self._outstanding > 0:
                self._outstanding -= 1
            self._idle.notify_all()
