"""Incoming Stripe webhooks: verified by the stripe SDK (`stripe.Webhook.construct_event`,
300 s tolerance), checked against the API version our endpoint is pinned to, and the events
settlement acts on. A delivery seen before changes nothing."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import stripe
from sqlalchemy import Connection, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from service.config import Settings
from service.integrations.stripe_event_shapes import paid_invoice
from service.problems import InvalidInput, Problem, Unauthorized
from service.settlements.tables import StripeWebhookEvent
from service.stripe_linking.service import handle_setup_intent_succeeded
from settlement.ledger.accounts import AccountDirectory
from settlement.ledger.writer import post_entry
from settlement.runs.money import payout_reversed, record_cash_receipt
from settlement.runs.tables import MemberPayout, MerchantInvoice

_seen = StripeWebhookEvent.__table__
_invoices = MerchantInvoice.__table__
_payouts = MemberPayout.__table__
HEADER = "Stripe-Signature"


class ApiVersionMismatch(Problem):
    status = 400
    type_slug = "api-version-mismatch"
    title = "Stripe API version mismatch"


def pinned_api_version(settings: Settings) -> str:
    return settings.stripe_webhook_api_version or str(stripe.api_version)


def verified_event(
    payload: bytes, header: str | None, secret: str, *, tolerance_seconds: int
) -> dict[str, Any]:
    """The event in a signed delivery, as the stripe SDK verifies it (signature over
    "t.body" with our endpoint secret, the timestamp at most `tolerance_seconds` old)."""
    if not header:
        raise Unauthorized(f"{HEADER} header is required", field=HEADER, reason="missing_header")
    try:
        payload.decode("utf-8")  # the SDK signs text: bytes that are not UTF-8 never verify
        event = stripe.Webhook.construct_event(payload, header, secret, tolerance_seconds)
    except UnicodeDecodeError:
        raise Unauthorized("body is not UTF-8", field=HEADER, reason="bad_signature") from None
    except stripe.SignatureVerificationError:
        raise _refused(payload, header, secret, tolerance_seconds) from None
    except ValueError:  # signed, but not JSON
        raise InvalidInput("body is not JSON", field="body", reason="invalid_json") from None
    except (AttributeError, TypeError):  # signed JSON that is not an object: the SDK trips on it
        raise InvalidInput("not a Stripe event", field="body", reason="not_an_event") from None
    body = event.to_dict()
    if (
        not isinstance(body.get("id"), str)
        or not isinstance(body.get("type"), str)
        or not isinstance((body.get("data") or {}).get("object"), dict)
    ):
        raise InvalidInput("not a Stripe event", field="body", reason="not_an_event")
    return body


def _refused(payload: bytes, header: str, secret: str, tolerance_seconds: int) -> Unauthorized:
    """Why the SDK refused: a signature that verifies without the time limit is stale."""
    try:
        stripe.WebhookSignature.verify_header(payload, header, secret, tolerance=None)
    except stripe.SignatureVerificationError:
        return Unauthorized(
            "signature does not match the body", field=HEADER, reason="bad_signature"
        )
    return Unauthorized(
        f"timestamp outside the {tolerance_seconds} s tolerance",
        field=HEADER,
        reason="stale_timestamp",
    )


def check_api_version(event: dict[str, Any], pinned: str) -> None:
    """Refuse an event rendered in another API version than our endpoint's.

    Stripe renders every event in the version its endpoint is pinned to, and its typed SDKs
    (stripe-go, stripe-dotnet, stripe-java) refuse an event of another version by default,
    advising a webhook endpoint pinned to the version the code reads. We do the same rather
    than guess at a shape: a money field read from the wrong shape is silently wrong (an
    invoice without `paid` looks unpaid). The refusal is a 4xx, so Stripe keeps retrying
    the delivery for up to three days: once the endpoint or CLO_STRIPE_WEBHOOK_API_VERSION
    is set right, the same event is handled, nothing lost. Nothing is recorded before this
    check, so the retry is not taken for a duplicate.
    """
    version = event.get("api_version")
    if version != pinned:
        raise ApiVersionMismatch(
            f"event {str(event.get('id'))[:80]} is in Stripe API version "
            f"{str(version)[:40]!r}; this endpoint is pinned to {pinned!r} "
            "(CLO_STRIPE_WEBHOOK_API_VERSION)",
            field="api_version",
            reason="api_version_mismatch",
        )


def handle_event(
    conn: Connection, event: dict[str, Any], now: datetime, settings: Settings | None = None
) -> str:
    """Act on one event, once: returns handled | duplicate | ignored | conflict.

    `settings` reach Stripe for the events that need a read back (a linked card's
    PaymentMethod); the others need none.
    """
    insert = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
    fresh = conn.execute(
        insert(_seen)
        .values(event_id=event["id"][:80], type=event["type"][:64], received_at=now)
        .on_conflict_do_nothing(index_elements=["event_id"])
        .returning(_seen.c.event_id)
    ).first()
    if fresh is None:
        return "duplicate"
    obj = event["data"]["object"]
    if event["type"] == "invoice.paid":
        return _invoice_paid(conn, obj, str(event.get("api_version")), now)
    if event["type"] == "transfer.reversed":
        return _transfer_reversed(conn, obj, now)
    if event["type"] == "setup_intent.succeeded":
        return handle_setup_intent_succeeded(conn, event, now, settings=settings)
    return "ignored"


def _unix(value: Any, default: datetime) -> datetime:
    return datetime.fromtimestamp(value, UTC) if isinstance(value, int) else default


def _invoice_paid(conn: Connection, obj: dict[str, Any], api_version: str, now: datetime) -> str:
    paid = paid_invoice(obj, api_version)
    if paid is None:
        return "ignored"
    invoice = conn.execute(
        select(_invoices).where(_invoices.c.invoice_ref == paid.invoice_ref)
    ).first()
    if invoice is None:
        return "ignored"
    paid_at = _unix(paid.paid_at_unix, now)
    record_cash_receipt(
        conn,
        AccountDirectory(),
        invoice_ref=invoice.invoice_ref,
        merchant_id=invoice.merchant_id,
        amount=paid.amount_paid,
        currency=invoice.currency,
        run_id=invoice.run_id,
        paid_at=paid_at,
        now=now,
    )
    conn.execute(
        update(_invoices)
        .where(_invoices.c.invoice_ref == invoice.invoice_ref)
        .values(status="paid", paid_at=paid_at, updated_at=now)
    )
    return "handled"


def _transfer_reversed(conn: Connection, obj: dict[str, Any], now: datetime) -> str:
    payout = conn.execute(
        select(_payouts).where(_payouts.c.transfer_ref == str(obj.get("id")))
    ).first()
    if payout is None or payout.status != "paid":
        return "ignored"  # a transfer reversed at creation was never settled
    entry = payout_reversed(
        payout.id, payout.member_id, payout.amount, payout.currency, payout.run_id, now
    )
    post_entry(conn, AccountDirectory(), entry, now)
    conn.execute(
        update(_payouts)
        .where(_payouts.c.id == payout.id)
        .values(status="returned", failure_reason="transfer reversed", updated_at=now)
    )
    return "handled"
