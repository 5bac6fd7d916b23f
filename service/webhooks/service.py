"""Webhook endpoints: registration, changes, secret rotation, replays, all in the caller's
scope (a publisher's own endpoints; an admin's own and everyone's)."""

from __future__ import annotations

import json
import secrets
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, insert, select, update
from sqlmodel import Session, col

from service.auth import Principal, Role
from service.config import Settings
from service.problems import InvalidInput, NotFound
from service.security.encryption import secret_box
from service.tables import Member
from service.webhooks.delivery import key_id_of
from service.webhooks.schemas import (
    ReplayOut,
    ReplayRequest,
    SecretRotated,
    WebhookEndpointCreate,
    WebhookEndpointCreated,
    WebhookEndpointOut,
    WebhookEndpointUpdate,
)
from service.webhooks.scope import event_types_of, visible_to, wants
from service.webhooks.tables import (
    DISABLED,
    ENABLED,
    PARTNERS_CURSOR,
    PENDING,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookFanoutCursor,
)
from service.webhooks.urls import require_allowed_url
from settlement.outbox import OutboxEvent

PREVIOUS_SECRET_HOURS = 24
MAX_REPLAY_EVENTS = 10_000
MAX_ENDPOINTS_PER_OWNER = 20

_deliveries = WebhookDelivery.__table__
_outbox = OutboxEvent.__table__
_members = Member.__table__


def new_secret() -> str:
    return "whsec_" + secrets.token_urlsafe(32)


def endpoint_in_scope(session: Session, principal: Principal, endpoint_id: int) -> WebhookEndpoint:
    """The endpoint if the caller owns it (admins reach all); anyone else's is a 404."""
    endpoint = session.get(WebhookEndpoint, endpoint_id)
    if endpoint is None or (
        principal.role is not Role.ADMIN and endpoint.publisher_id != principal.publisher_id
    ):
        raise NotFound(f"webhook endpoint {endpoint_id} not found", field="endpoint_id")
    return endpoint


def endpoints_in_scope(
    session: Session, principal: Principal, *, after_id: int, limit: int
) -> list[WebhookEndpoint]:
    query = select(WebhookEndpoint).where(col(WebhookEndpoint.id) > after_id)
    if principal.role is not Role.ADMIN:
        query = query.where(col(WebhookEndpoint.publisher_id) == principal.publisher_id)
    return list(session.scalars(query.order_by(col(WebhookEndpoint.id)).limit(limit)))


def _owner(principal: Principal) -> int | None:
    return None if principal.role is Role.ADMIN else principal.publisher_id


def _pending(session: Session, endpoint_id: int) -> int:
    return int(
        session.execute(
            select(func.count()).where(
                _deliveries.c.endpoint_id == endpoint_id, _deliveries.c.status == PENDING
            )
        ).scalar_one()
    )


def endpoint_out(session: Session, endpoint: WebhookEndpoint) -> WebhookEndpointOut:
    assert endpoint.id is not None
    return WebhookEndpointOut(
        id=endpoint.id,
        url=endpoint.url,
        event_types=sorted(event_types_of(endpoint.event_types)),
        description=endpoint.description,
        status="enabled" if endpoint.status == ENABLED else "disabled",
        disabled_reason=endpoint.disabled_reason,
        disabled_at=endpoint.disabled_at,
        key_id=key_id_of(endpoint.id),
        previous_secret_expires_at=endpoint.previous_secret_expires_at
        if endpoint.previous_secret_encrypted
        else None,
        pending_deliveries=_pending(session, endpoint.id),
        created_at=endpoint.created_at,
        updated_at=endpoint.updated_at,
    )


def _types_json(types: list[Any]) -> str:
    return json.dumps(sorted({str(getattr(t, "value", t)) for t in types}))


def create_endpoint(
    session: Session,
    principal: Principal,
    body: WebhookEndpointCreate,
    *,
    settings: Settings,
    now: datetime,
) -> WebhookEndpointCreated:
    require_allowed_url(body.url, allow_local_http=settings.webhook_allow_local_http)
    owner = _owner(principal)
    owned = col(WebhookEndpoint.publisher_id)
    count = session.execute(
        select(func.count()).where(owned == owner if owner is not None else owned.is_(None))
    ).scalar_one()
    if count >= MAX_ENDPOINTS_PER_OWNER:
        raise InvalidInput(
            f"at most {MAX_ENDPOINTS_PER_OWNER} webhook endpoints per owner",
            field="url",
            reason="too_many_endpoints",
        )
    secret = new_secret()
    endpoint = WebhookEndpoint(
        publisher_id=owner,
        url=body.url,
        event_types=_types_json(body.event_types),
        description=body.description,
        status=ENABLED,
        secret_encrypted=secret_box(settings).encrypt(secret),
        after_outbox_id=session.execute(select(func.max(_outbox.c.id))).scalar() or 0,
        last_sequence=0,
        created_at=now,
        updated_at=now,
    )
    session.add(endpoint)
    session.flush()
    out = endpoint_out(session, endpoint)
    return WebhookEndpointCreated(**out.model_dump(), secret=secret)


def update_endpoint(
    session: Session,
    endpoint: WebhookEndpoint,
    body: WebhookEndpointUpdate,
    *,
    settings: Settings,
    now: datetime,
) -> WebhookEndpoint:
    if body.url is not None:
        require_allowed_url(body.url, allow_local_http=settings.webhook_allow_local_http)
        endpoint.url = body.url
    if body.event_types is not None:
        endpoint.event_types = _types_json(body.event_types)
    if body.description is not None:
        endpoint.description = body.description
    if body.enabled is True and endpoint.status == DISABLED:
        _resume(session, endpoint, now)
    elif body.enabled is False and endpoint.status == ENABLED:
        endpoint.status, endpoint.disabled_at = DISABLED, now
        endpoint.disabled_reason = "disabled by its owner"
    endpoint.updated_at = now
    session.add(endpoint)
    session.flush()
    return endpoint


def _resume(session: Session, endpoint: WebhookEndpoint, now: datetime) -> None:
    """Enable again where it stopped: the head is due now, with a fresh retry window."""
    endpoint.status, endpoint.disabled_reason, endpoint.disabled_at = ENABLED, None, None
    session.execute(
        update(_deliveries)
        .where(_deliveries.c.endpoint_id == endpoint.id, _deliveries.c.status == PENDING)
        .values(next_attempt_at=now, failing_since=None)
    )


def delete_endpoint(session: Session, endpoint: WebhookEndpoint) -> None:
    """The endpoint and its queue go; the outbox events stay (another endpoint may replay)."""
    session.execute(_deliveries.delete().where(_deliveries.c.endpoint_id == endpoint.id))
    session.delete(endpoint)
    session.flush()


def rotate_secret(
    session: Session, endpoint: WebhookEndpoint, *, settings: Settings, now: datetime
) -> SecretRotated:
    """A new secret, returned once; the current one keeps signing beside it for 24 h."""
    box = secret_box(settings)
    secret = new_secret()
    expires_at = now + timedelta(hours=PREVIOUS_SECRET_HOURS)
    endpoint.previous_secret_encrypted = endpoint.secret_encrypted
    endpoint.previous_secret_expires_at = expires_at
    endpoint.secret_encrypted = box.encrypt(secret)
    endpoint.updated_at = now
    session.add(endpoint)
    session.flush()
    assert endpoint.id is not None
    return SecretRotated(
        key_id=key_id_of(endpoint.id), secret=secret, previous_secret_expires_at=expires_at
    )


def _outbox_id(public_id: str) -> int:
    return int(public_id.removeprefix("evt_"))


def replay(
    session: Session, endpoint: WebhookEndpoint, body: ReplayRequest, *, now: datetime
) -> ReplayOut:
    """Queue events again behind what is pending, in outbox order: only events the endpoint
    may see and wants, and only those already fanned out (later ones arrive anyway)."""
    field = "event_id" if body.event_id is not None else "since_event_id"
    if (body.event_id is None) == (body.since_event_id is None):
        raise InvalidInput(
            "give exactly one of event_id and since_event_id", field=field, reason="one_of"
        )
    first = _outbox_id(body.event_id or body.since_event_id or "")
    cursor = session.get(WebhookFanoutCursor, PARTNERS_CURSOR)
    fanned_to = cursor.last_outbox_id if cursor is not None else 0
    query = select(_outbox).where(_outbox.c.id >= first, _outbox.c.id <= fanned_to)
    if body.event_id is not None:
        query = query.where(_outbox.c.id == first)
    rows = list(session.execute(query.order_by(_outbox.c.id).limit(MAX_REPLAY_EVENTS + 1)))
    if len(rows) > MAX_REPLAY_EVENTS:
        raise InvalidInput(
            f"more than {MAX_REPLAY_EVENTS} events since {body.since_event_id}; replay from a "
            "later event",
            field=field,
            reason="too_many_events",
        )
    members = {r.member_id for r in rows if r.member_id}
    publishers: dict[int, int | None] = {}
    if members:
        found = session.execute(
            select(_members.c.id, _members.c.publisher_id).where(_members.c.id.in_(members))
        )
        publishers = {r.id: r.publisher_id for r in found}
    types = event_types_of(endpoint.event_types)
    chosen = [
        r
        for r in rows
        if wants(types, r.type)
        and visible_to(
            endpoint_publisher_id=endpoint.publisher_id,
            event_type=r.type,
            member_publisher_id=publishers.get(r.member_id) if r.member_id else None,
        )
    ]
    if body.event_id is not None and not chosen:
        # Another tenant's event and one that does not exist look the same.
        raise NotFound(f"event {body.event_id} not found", field="event_id")
    # Lock the endpoint row so the fan-out cannot take the same sequence numbers.
    session.refresh(endpoint, with_for_update=True)
    sequence = endpoint.last_sequence
    rows_out = []
    for r in chosen:
        sequence += 1
        rows_out.append(
            {
                "endpoint_id": endpoint.id,
                "sequence": sequence,
                "outbox_event_id": r.id,
                "status": PENDING,
                "replay": True,
                "attempts": 0,
                "next_attempt_at": now,
                "created_at": now,
            }
        )
    if rows_out:
        session.execute(insert(_deliveries), rows_out)
    first_sequence = endpoint.last_sequence + 1 if rows_out else None
    endpoint.last_sequence = sequence
    session.add(endpoint)
    session.flush()
    return ReplayOut(
        queued=len(rows_out),
        first_sequence=first_sequence,
        last_sequence=sequence if rows_out else None,
    )
