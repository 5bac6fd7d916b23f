"""Incoming Stripe webhooks: signature check (`t=`, `v1=` HMAC-SHA256 over "t.body", 300 s
tolerance) and the events settlement acts on. A delivery seen before changes nothing."""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from service.config import Settings
from service.problems import InvalidInput, Unauthorized
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


def verify_signature(
    payload: bytes, header: str | None, secret: str, *, now_unix: int, tolerance_seconds: int
) -> None:
    if not header:
        raise Unauthorized(f"{HEADER} header is required", field=HEADER, reason="missing_header")
    timestamp, offered = None, []
    for part in header.split(","):
        key, _, value = part.strip().partition("=")
        if key == "t" and value.isdigit() and len(value) <= 12:
            timestamp = int(value)
        elif key == "v1":
            offered.append(value)
    if timestamp is None or not offered:
        raise Unauthorized(f"{HEADER} has no t= and v1=", field=HEADER, reason="malformed")
    if abs(now_unix - timestamp) > tolerance_seconds:
        raise Unauthorized(
            f"timestamp outside the {tolerance_seconds} s tolerance",
            field=HEADER,
            reason="stale_timestamp",
        )
    expected = hmac.new(
        secret.encode(), f"{timestamp}.".encode() + payload, hashlib.sha256
    ).hexdigest()
    if not any(hmac.compare_digest(expected, v) for v in offered):
        raise Unauthorized(
            "signature does not match the body", field=HEADER, reason="bad_signature"
        )


def parse_event(payload: bytes) -> dict[str, Any]:
    try:
        event = json.loads(payload)
    except (ValueError, UnicodeDecodeError):
        raise InvalidInput("body is not JSON", field="body", reason="invalid_json") from None
    if (
        not isinstance(event, dict)
        or not isinstance(event.get("id"), str)
        or not isinstance(event.get("type"), str)
        or not isinstance((event.get("data") or {}).get("object"), dict)
    ):
        raise InvalidInput("not a Stripe event", field="body", reason="not_an_event")
    return event


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
        return _invoice_paid(conn, obj, now)
    if event["type"] == "transfer.reversed":
        return _transfer_reversed(conn, obj, now)
    if event["type"] == "setup_intent.succeeded":
        return handle_setup_intent_succeeded(conn, event, now, settings=settings)
    return "ignored"


def _unix(value: Any, default: datetime) -> datetime:
    return datetime.fromtimestamp(value, UTC) if isinstance(value, int) else default


def _invoice_paid(conn: Connection, obj: dict[str, Any], now: datetime) -> str:
    invoice = conn.execute(
        select(_invoices).where(_invoices.c.invoice_ref == str(obj.get("id")))
    ).first()
    amount = obj.get("amount_paid")
    if invoice is None or not isinstance(amount, int) or amount <= 0:
        return "ignored"
    paid_at = _unix((obj.get("status_transitions") or {}).get("paid_at"), now)
    record_cash_receipt(
        conn,
        AccountDirectory(),
        invoice_ref=invoice.invoice_ref,
        merchant_id=invoice.merchant_id,
        amount=amount,
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
