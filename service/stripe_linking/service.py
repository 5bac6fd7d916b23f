"""Card linking through Stripe: a customer per member, a SetupIntent for the browser's card
form, and the card (brand, last4, expiry, fingerprint) stored from the confirmed
PaymentMethod. No card number ever passes through here: Stripe.js sends it to Stripe.

Every POST to Stripe carries an idempotency key (GETs are idempotent by nature and Stripe
ignores keys on them). `handle_setup_intent_succeeded` does the same linking from a
`setup_intent.succeeded` webhook event.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import stripe
from pydantic import ValidationError
from sqlalchemy import Connection
from sqlmodel import Session, select

from service.cards import service as cards
from service.cards.schemas import CardCreate
from service.config import Settings, get_settings
from service.integrations.stripe_billing import StripeNotConfigured, stripe_client
from service.linking_tables import StripeCustomer
from service.merchants.common import add_unique
from service.problems import Conflict, InvalidInput, NotFound, Problem
from service.tables import Card, Member

PROVIDER = "stripe"
KNOWN_BRANDS = frozenset({"visa", "mastercard", "amex", "discover", "jcb", "diners", "unionpay"})


class UpstreamUnavailable(Problem):
    status = 502
    type_slug = "upstream-error"
    title = "Payment provider error"


class NotConfigured(Problem):
    status = 503
    type_slug = "not-configured"
    title = "Not configured"


def client_for(settings: Settings) -> stripe.StripeClient:
    try:
        return stripe_client(settings)
    except StripeNotConfigured:
        raise NotConfigured(
            "card linking through Stripe is not configured", field="stripe", reason="no_api_key"
        ) from None


def _as_dict(obj: Any) -> dict[str, Any]:
    return obj.to_dict() if hasattr(obj, "to_dict") else dict(obj)


def _upstream(exc: stripe.StripeError) -> Problem:
    if isinstance(exc, stripe.InvalidRequestError) and exc.http_status == 404:
        return NotFound("no such setup intent", field="setup_intent_id", reason="not_found")
    code = getattr(exc, "code", None) or type(exc).__name__
    return UpstreamUnavailable(f"Stripe refused the call ({code})", field="stripe", reason=code)


def customer_ref_of(session: Session, member_id: int) -> str | None:
    row = session.get(StripeCustomer, member_id)
    return row.customer_ref if row is not None else None


def ensure_customer(
    session: Session, client: stripe.StripeClient, member: Member, *, now: datetime
) -> str:
    """The member's Stripe customer, created once; its id is stored."""
    assert member.id is not None
    found = customer_ref_of(session, member.id)
    if found is not None:
        return found
    try:
        customer = client.v1.customers.create(
            {"metadata": {"clo_member_id": str(member.id)}},
            {"idempotency_key": f"clo-member-{member.id}-customer"},
        )
    except stripe.StripeError as exc:
        raise _upstream(exc) from None
    row = StripeCustomer(member_id=member.id, customer_ref=customer.id, created_at=now)
    try:
        add_unique(session, row, field="member_id", detail="customer already stored")
    except Conflict:
        # A concurrent request stored it first (the idempotency key gave both the same one).
        found = customer_ref_of(session, member.id)
        if found is None:
            raise
        return found
    return customer.id


def create_setup_intent(
    session: Session,
    client: stripe.StripeClient,
    member: Member,
    *,
    request_key: str | None,
    now: datetime,
) -> dict[str, str]:
    """A SetupIntent for the member's customer; its client_secret goes to the card form."""
    customer_ref = ensure_customer(session, client, member, now=now)
    key = f"clo-member-{member.id}-seti-{request_key or uuid.uuid4().hex}"
    try:
        intent = client.v1.setup_intents.create(
            # The SDK's types follow its newest API version, which names this field
            # allowed_payment_method_types; the stand-in and the recorded fixtures use
            # payment_method_types, which is what is sent.
            {  # type: ignore[arg-type]
                "customer": customer_ref,
                "payment_method_types": ["card"],
                "usage": "off_session",
                "metadata": {"clo_member_id": str(member.id)},
            },
            {"idempotency_key": key},
        )
    except stripe.StripeError as exc:
        raise _upstream(exc) from None
    assert intent.client_secret is not None, "Stripe returns one with every new SetupIntent"
    return {
        "setup_intent_id": intent.id,
        "client_secret": intent.client_secret,
        "status": intent.status,
    }


def _card_from_payment_method(pm: dict[str, Any]) -> CardCreate:
    card = pm.get("card")
    if pm.get("type") != "card" or not isinstance(card, dict):
        raise InvalidInput(
            "the payment method is not a card", field="payment_method", reason="not_a_card"
        )
    brand = str(card.get("brand") or "unknown")
    try:
        return CardCreate(
            provider_token=str(pm["id"]),
            fingerprint=str(card.get("fingerprint") or ""),
            brand=brand if brand in KNOWN_BRANDS else "unknown",  # type: ignore[arg-type]
            last4=str(card.get("last4") or ""),
            exp_month=card.get("exp_month"),
            exp_year=card.get("exp_year"),
        )
    except ValidationError:
        raise InvalidInput(
            "the payment method lacks a fingerprint, last4 or a valid expiry",
            field="payment_method",
            reason="incomplete_card",
        ) from None


def link_setup_intent(
    session: Session,
    client: stripe.StripeClient,
    member: Member,
    intent: dict[str, Any],
    *,
    now: datetime,
) -> tuple[Card, bool]:
    """Store the card of a succeeded SetupIntent for `member`: (card, created)."""
    if intent.get("status") != "succeeded":
        raise Conflict(
            f"the setup intent has status {intent.get('status')!r}, not succeeded",
            field="setup_intent_id",
            reason="setup_intent_not_succeeded",
        )
    pm_value = intent.get("payment_method")
    pm_id = pm_value.get("id") if isinstance(pm_value, dict) else pm_value
    if not isinstance(pm_id, str) or not pm_id:
        raise Conflict(
            "the setup intent has no payment method",
            field="setup_intent_id",
            reason="no_payment_method",
        )
    try:
        pm = _as_dict(client.v1.payment_methods.retrieve(pm_id))
    except stripe.StripeError as exc:
        raise _upstream(exc) from None
    return cards.register_card(
        session, member, _card_from_payment_method(pm), provider=PROVIDER, now=now
    )


def confirm_setup_intent(
    session: Session,
    client: stripe.StripeClient,
    member: Member,
    setup_intent_id: str,
    *,
    now: datetime,
) -> tuple[Card, bool]:
    """After the card form confirmed the SetupIntent: retrieve it and store its card.

    A SetupIntent of another customer is not found (never linked to this member).
    """
    assert member.id is not None
    customer_ref = customer_ref_of(session, member.id)
    try:
        intent = _as_dict(client.v1.setup_intents.retrieve(setup_intent_id))
    except stripe.StripeError as exc:
        raise _upstream(exc) from None
    if customer_ref is None or intent.get("customer") != customer_ref:
        raise NotFound(
            f"setup intent {setup_intent_id} not found", field="setup_intent_id", reason="not_found"
        )
    return link_setup_intent(session, client, member, intent, now=now)


def handle_setup_intent_succeeded(
    conn_or_session: Connection | Session,
    event: dict[str, Any],
    now: datetime,
    *,
    client: stripe.StripeClient | None = None,
    settings: Settings | None = None,
) -> str:
    """Link the card of a `setup_intent.succeeded` event (already signature-checked).

    Returns handled | ignored | conflict and never raises for an expected case, so a webhook
    is not retried forever: an unknown customer or an event of another type is ignored, a
    card already held by another member is a conflict (nothing written). Seen again, the
    same card for the same member changes nothing. Only flushes: the caller commits.
    """
    if event.get("type") != "setup_intent.succeeded":
        return "ignored"
    intent = (event.get("data") or {}).get("object")
    if not isinstance(intent, dict) or not isinstance(intent.get("customer"), str):
        return "ignored"
    if isinstance(conn_or_session, Session):
        return _handle(conn_or_session, intent, now, client, settings)
    with Session(bind=conn_or_session) as session:
        return _handle(session, intent, now, client, settings)


def _handle(
    session: Session,
    intent: dict[str, Any],
    now: datetime,
    client: stripe.StripeClient | None,
    settings: Settings | None,
) -> str:
    row = session.exec(
        select(StripeCustomer).where(StripeCustomer.customer_ref == intent["customer"])
    ).first()
    member = session.get(Member, row.member_id) if row is not None else None
    if member is None:
        return "ignored"
    client = client or client_for(settings or get_settings())
    try:
        link_setup_intent(session, client, member, intent, now=now)
    except Conflict:
        return "conflict"
    except (InvalidInput, NotFound):
        return "ignored"
    session.flush()
    return "handled"
