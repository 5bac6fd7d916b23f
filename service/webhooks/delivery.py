"""The delivery worker: each endpoint's queue sent strictly in order, at least once.

A worker takes an endpoint (a lease on its row, chosen with FOR UPDATE SKIP LOCKED on
PostgreSQL, under SQLite's single writer elsewhere), then sends the head of its queue, and
the next, until one fails or is not due: the head blocks the rest, so a receiver sees an
endpoint's events in sequence order. A failure is retried with exponential backoff and full
jitter (tenacity's `wait_random_exponential`) for `webhook_retry_days`; then the endpoint is
disabled with the reason, and re-enabling it resumes at that same head. A send whose outcome
is lost (crash, lease lost) is sent again: every body carries its event id, and receivers
drop the ones they have seen.
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import Connection, Engine, and_, or_, select, update
from tenacity import RetryCallState, wait_random_exponential

from service.config import Settings
from service.feeds.signing import sign
from service.security.encryption import SecretBox, secret_box
from service.webhooks.payloads import render_body
from service.webhooks.tables import (
    DELIVERED,
    DISABLED,
    ENABLED,
    PENDING,
    WebhookDelivery,
    WebhookEndpoint,
    aware,
)
from service.webhooks.urls import AddressRefused, Resolver, Target, check_url, resolve
from settlement.outbox import OutboxEvent, public_event_id

log = logging.getLogger("clo.webhooks")

_endpoints = WebhookEndpoint.__table__
_deliveries = WebhookDelivery.__table__
_outbox = OutboxEvent.__table__

LEASE_S = 120  # longer than a queue's sends per turn take at the timeout
ENDPOINTS_PER_PASS = 200
SENDS_PER_ENDPOINT = 100  # then the worker moves on, so one busy endpoint starves no other
MAX_ERROR_CHARS = 300
USER_AGENT = "CLO-Webhooks/1"


def key_id_of(endpoint_id: int) -> str:
    """The X-CLO-Key-Id partners look their secret up by; stable across rotations."""
    return f"we_{endpoint_id}"


def retry_delay_s(failed_attempts: int, settings: Settings) -> float:
    """How long to wait after the `failed_attempts`-th failure in a row: a random delay up
    to base x 2^(n-1), capped (exponential backoff with full jitter)."""
    wait = wait_random_exponential(
        multiplier=settings.webhook_retry_base_seconds,
        max=settings.webhook_retry_max_delay_seconds,
    )
    state = RetryCallState(retry_object=None, fn=None, args=(), kwargs={})  # type: ignore[arg-type]  # only attempt_number is read
    state.attempt_number = failed_attempts
    return float(wait(state))


def signing_secrets(endpoint: Any, box: SecretBox, now: datetime) -> list[str]:
    """The current secret, then the previous one while it still signs (after a rotation)."""
    found = [box.decrypt(endpoint.secret_encrypted)]
    expires = endpoint.previous_secret_expires_at
    if endpoint.previous_secret_encrypted and expires is not None and aware(expires) > now:
        found.append(box.decrypt(endpoint.previous_secret_encrypted))
    return found


def signed_headers(
    *, endpoint_id: int, event_id: str, sequence: int, body: bytes, keys: list[str], now: datetime
) -> dict[str, str]:
    """The inbound feed's header scheme: key id, timestamp, one `v1=` signature per secret."""
    timestamp = int(now.timestamp())
    return {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "X-CLO-Key-Id": key_id_of(endpoint_id),
        "X-CLO-Timestamp": str(timestamp),
        "X-CLO-Signature": ", ".join(sign(secret, timestamp, body) for secret in keys),
        "X-CLO-Event-Id": event_id,
        "X-CLO-Delivery-Sequence": str(sequence),
    }


def post_to(client: httpx.Client, target: Target, body: bytes, headers: dict[str, str]) -> int:
    """POST to the checked address (never resolving the name again), with the name as Host
    and as the TLS server name; redirects are not followed and the answer's body is not read
    (its status is all that counts)."""
    url = httpx.URL(target.url).copy_with(host=target.address)
    name = f"[{target.host}]" if ":" in target.host else target.host
    default_port = 443 if target.scheme == "https" else 80
    headers = headers | {"Host": name if target.port == default_port else f"{name}:{target.port}"}
    with client.stream(
        "POST", url, content=body, headers=headers, extensions={"sni_hostname": target.host}
    ) as response:
        return response.status_code


@dataclass(slots=True)
class DeliveryTally:
    sent: int = 0
    failed: int = 0
    disabled: int = 0

    def detail(self) -> str:
        return f"{self.sent} sent, {self.failed} failed, {self.disabled} endpoints disabled"


def _candidates(engine: Engine, now: datetime, limit: int) -> list[int]:
    """Enabled, unleased endpoints with something pending."""
    with engine.connect() as conn:
        pending = (
            select(_deliveries.c.endpoint_id)
            .where(_deliveries.c.status == PENDING)
            .distinct()
            .scalar_subquery()
        )
        return list(
            conn.execute(
                select(_endpoints.c.id)
                .where(
                    _endpoints.c.status == ENABLED,
                    _endpoints.c.id.in_(pending),
                    or_(_endpoints.c.lease_until.is_(None), _endpoints.c.lease_until < now),
                )
                .order_by(_endpoints.c.id)
                .limit(limit)
            ).scalars()
        )


def _claim(engine: Engine, endpoint_id: int, now: datetime) -> str | None:
    """A lease on the endpoint, or None when another worker holds it."""
    token = secrets.token_hex(16)
    with engine.begin() as conn:
        row = conn.execute(
            select(_endpoints.c.id)
            .where(
                _endpoints.c.id == endpoint_id,
                _endpoints.c.status == ENABLED,
                or_(_endpoints.c.lease_until.is_(None), _endpoints.c.lease_until < now),
            )
            .with_for_update(skip_locked=True)
        ).first()
        if row is None:
            return None
        conn.execute(
            update(_endpoints)
            .where(_endpoints.c.id == endpoint_id)
            .values(lease_token=token, lease_until=now + timedelta(seconds=LEASE_S))
        )
    return token


def _release(engine: Engine, endpoint_id: int, token: str) -> None:
    with engine.begin() as conn:
        conn.execute(
            update(_endpoints)
            .where(_endpoints.c.id == endpoint_id, _endpoints.c.lease_token == token)
            .values(lease_token=None, lease_until=None)
        )


def _head(conn: Connection, endpoint_id: int) -> Any:
    return conn.execute(
        select(_deliveries)
        .where(_deliveries.c.endpoint_id == endpoint_id, _deliveries.c.status == PENDING)
        .order_by(_deliveries.c.sequence)
        .limit(1)
    ).first()


def _holds(conn: Connection, endpoint_id: int, token: str) -> bool:
    return (
        conn.execute(
            select(_endpoints.c.id).where(
                and_(_endpoints.c.id == endpoint_id, _endpoints.c.lease_token == token)
            )
        ).first()
        is not None
    )


class Deliverer:
    """Sends due deliveries; one instance per process (it owns the HTTP client)."""

    def __init__(
        self,
        engine: Engine,
        settings: Settings,
        *,
        client: httpx.Client | None = None,
        resolver: Resolver = resolve,
    ) -> None:
        self.engine = engine
        self.settings = settings
        self.resolver = resolver
        self.client = client or httpx.Client(
            timeout=httpx.Timeout(settings.webhook_timeout_seconds),
            follow_redirects=False,
            trust_env=False,
        )
        self._box: SecretBox | None = None

    @property
    def box(self) -> SecretBox:
        """The secrets' key ring, opened at the first send (a missing key fails the send,
        not the scheduler's start)."""
        if self._box is None:
            self._box = secret_box(self.settings)
        return self._box

    def close(self) -> None:
        self.client.close()

    def deliver_due(
        self, now: datetime, *, max_endpoints: int = ENDPOINTS_PER_PASS
    ) -> DeliveryTally:
        tally = DeliveryTally()
        for endpoint_id in _candidates(self.engine, now, max_endpoints):
            token = _claim(self.engine, endpoint_id, now)
            if token is None:
                continue
            try:
                self._drain(endpoint_id, token, now, tally)
            finally:
                _release(self.engine, endpoint_id, token)
        return tally

    def _drain(self, endpoint_id: int, token: str, now: datetime, tally: DeliveryTally) -> None:
        for _ in range(SENDS_PER_ENDPOINT):
            with self.engine.connect() as conn:
                endpoint = conn.execute(
                    select(_endpoints).where(_endpoints.c.id == endpoint_id)
                ).one()
                if endpoint.status != ENABLED:
                    return  # its owner disabled it meanwhile
                head = _head(conn, endpoint_id)
                if head is None or aware(head.next_attempt_at) > now:
                    return
                event = conn.execute(
                    select(_outbox).where(_outbox.c.id == head.outbox_event_id)
                ).one()
            status_code, error = self._send(endpoint, head, event, now)
            ok = status_code is not None and 200 <= status_code < 300
            if not self._record(endpoint, head, token, now, status_code, error, tally, ok=ok):
                return

    def _send(
        self, endpoint: Any, head: Any, event: Any, now: datetime
    ) -> tuple[int | None, str | None]:
        body = render_body(event)
        headers = signed_headers(
            endpoint_id=endpoint.id,
            event_id=public_event_id(event.id),
            sequence=head.sequence,
            body=body,
            keys=signing_secrets(endpoint, self.box, now),
            now=now,
        )
        try:
            target = check_url(
                endpoint.url,
                allow_local_http=self.settings.webhook_allow_local_http,
                resolver=self.resolver,
            )
        except AddressRefused as exc:
            return None, f"address refused: {exc.detail}"
        try:
            status_code = post_to(self.client, target, body, headers)
        except httpx.HTTPError as exc:
            return None, f"{type(exc).__name__}: {exc}"[:MAX_ERROR_CHARS]
        return status_code, None if 200 <= status_code < 300 else f"HTTP {status_code}"

    def _record(
        self,
        endpoint: Any,
        head: Any,
        token: str,
        now: datetime,
        status_code: int | None,
        error: str | None,
        tally: DeliveryTally,
        *,
        ok: bool,
    ) -> bool:
        """Write the outcome of one send; whether the worker goes on with this endpoint."""
        with self.engine.begin() as conn:
            if not _holds(conn, endpoint.id, token):
                return False  # the lease ran out and another worker took over: it sends again
            where = _deliveries.c.id == head.id
            attempts = head.attempts + 1
            if ok:
                conn.execute(
                    update(_deliveries)
                    .where(where)
                    .values(
                        status=DELIVERED,
                        attempts=attempts,
                        last_attempt_at=now,
                        last_status_code=status_code,
                        last_error=None,
                        delivered_at=now,
                    )
                )
                tally.sent += 1
                return True
            tally.failed += 1
            failing_since = aware(head.failing_since) if head.failing_since else now
            give_up_at = failing_since + timedelta(days=self.settings.webhook_retry_days)
            next_at = now + timedelta(seconds=retry_delay_s(attempts, self.settings))
            conn.execute(
                update(_deliveries)
                .where(where)
                .values(
                    attempts=attempts,
                    failing_since=failing_since,
                    last_attempt_at=now,
                    last_status_code=status_code,
                    last_error=(error or "")[:MAX_ERROR_CHARS],
                    next_attempt_at=min(next_at, give_up_at),
                )
            )
            if now >= give_up_at:
                reason = (
                    f"deliveries failed for {self.settings.webhook_retry_days} days since "
                    f"{failing_since.isoformat()}; last: {error}"
                )[:500]
                conn.execute(
                    update(_endpoints)
                    .where(_endpoints.c.id == endpoint.id)
                    .values(
                        status=DISABLED, disabled_reason=reason, disabled_at=now, updated_at=now
                    )
                )
                tally.disabled += 1
                log.warning("webhook endpoint %s disabled: %s", endpoint.id, reason)
            return False
