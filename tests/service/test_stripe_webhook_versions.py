"""Stripe webhooks follow the API version our endpoint is pinned to.

Worked example (5% offer, 20% commission on the reward, so the merchant pays 6.25%):
- 2026-W41: a $40.00 purchase clears: 200 + 50, invoiced 250;
- 2026-W42: a $100.00 purchase clears: 500 + 125, invoiced 625.
Both invoices are paid. The endpoint pinned to 2024-06-20 gets `invoice.paid` in the shape
before invoice partial payments (`paid: true`); pinned to the SDK's version, in the current
shape (no `paid`, `status: "paid"`). Each books its cash (250, then 625) once; an event in
another version than the pinned one is refused with a 400 problem and books nothing.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Iterator
from datetime import timedelta

import pytest
import stripe as stripe_sdk
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select, update

from infra.standins.stripe_standin import StripeStandin, sign
from infra.standins.stripe_standin.versions import render_event
from service.app import create_app
from service.config import Settings
from service.integrations.stripe_billing import StripeBilling, StripePayouts
from service.integrations.stripe_event_shapes import paid_invoice, version_date
from service.problems import InvalidInput
from service.tables import Merchant
from settlement.ledger.accounts import AccountKind, account_code
from settlement.runs.periods import iso_week
from settlement.runs.ports import Ports
from settlement.runs.runner import RunSettings, SettlementRunner
from settlement.runs.tables import MerchantInvoice
from tests.balances import posted
from tests.service.api_client import FEED_KEYS, assert_problem
from tests.service.pipeline_world import T0, PipelineWorld

SECRET = "whsec_versions_0123456789abcdef"
OLD = "2024-06-20"
RECEIVABLE = account_code(AccountKind.MERCHANT_RECEIVABLE, 1, "USD")


@pytest.fixture
def stripe() -> Iterator[StripeStandin]:
    with StripeStandin(webhook_secret=SECRET) as standin:
        yield standin


def app_pinned_to(engine: Engine, api_version: str = "") -> TestClient:
    settings = Settings(
        environment="test",
        feed_signing_keys=FEED_KEYS,
        stripe_webhook_secret=SECRET,
        stripe_webhook_api_version=api_version,
    )
    return TestClient(create_app(engine=engine, settings=settings))


def deliver(client: TestClient, event: dict):
    raw = json.dumps(event).encode()
    headers = {"Stripe-Signature": sign(raw, SECRET, int(time.time()))}
    return client.post("/v1/webhooks/stripe", content=raw, headers=headers)


def receivable(engine: Engine) -> int:
    return posted(engine, RECEIVABLE)


def bill_week(engine: Engine, world: PipelineWorld, runner, stripe, week: int, amount: int):
    """Clear a purchase in 2026-W{week}, settle the week, pay its invoice: the event."""
    at = T0 + timedelta(days=7 * (week - 41))
    world.ingest(world.event("clearing", card=1, amount=amount, at=at), now=at)
    assert runner.settle(iso_week(f"2026-W{week}"), at + timedelta(days=7)).status == "closed"
    invoices = MerchantInvoice.__table__
    with engine.connect() as conn:
        invoice_ref = conn.execute(
            select(invoices.c.invoice_ref).order_by(invoices.c.run_id.desc()).limit(1)
        ).scalar_one()
    stripe.pay_invoice(invoice_ref)
    [event] = [e for e in stripe.events("invoice.paid") if e["data"]["object"]["id"] == invoice_ref]
    return event


def test_old_and_current_invoice_shapes_each_under_their_pinned_version(
    engine: Engine, stripe: StripeStandin
) -> None:
    world = PipelineWorld(engine)
    world.member(member_id=1)
    world.offer(offer_id=10)
    with engine.begin() as conn:
        conn.execute(update(Merchant.__table__).values(billing_email="ap@bluebottle.example"))
    client = stripe.client(max_network_retries=2)
    runner = SettlementRunner(
        engine,
        Ports(StripeBilling(engine, client), StripePayouts(engine, client)),
        RunSettings(auto_approve_below_amount=10**9, payout_minimum_amount=10**9),
    )

    first = bill_week(engine, world, runner, stripe, 41, 4_000)
    assert first["api_version"] == stripe_sdk.api_version  # created through the SDK
    assert "paid" not in first["data"]["object"]  # the current shape
    old_shape = render_event(first, OLD)
    assert old_shape["data"]["object"]["paid"] is True
    assert receivable(engine) == -250

    with app_pinned_to(engine, OLD) as old_endpoint:
        refused = deliver(old_endpoint, first)  # current shape, another version
        assert_problem(refused, 400, "api_version", "api_version_mismatch")
        assert OLD in refused.json()["detail"]
        assert receivable(engine) == -250  # nothing booked
        assert deliver(old_endpoint, old_shape).json() == {"received": True, "result": "handled"}
        assert receivable(engine) == 0  # 250 paid
        again = deliver(old_endpoint, old_shape).json()
        assert again == {"received": True, "result": "duplicate"}

    second = bill_week(engine, world, runner, stripe, 42, 10_000)
    assert receivable(engine) == -625
    with app_pinned_to(engine) as current_endpoint:  # pinned to the SDK's version
        refused = deliver(current_endpoint, render_event(second, OLD))
        assert_problem(refused, 400, "api_version", "api_version_mismatch")
        handled = deliver(current_endpoint, second).json()
        assert handled == {"received": True, "result": "handled"}
    assert receivable(engine) == 0  # 625 paid


def test_the_same_invoice_read_in_each_shape() -> None:
    paid_old = {"id": "in_1", "paid": True, "status": "paid", "amount_paid": 625}
    paid_now = {"id": "in_1", "status": "paid", "amount_paid": 625, "amount_overpaid": 0}
    assert paid_invoice(paid_old, OLD) == paid_invoice(paid_now, "2025-03-31.basil")
    assert paid_invoice(paid_now, OLD) is None  # read in the wrong shape it looks unpaid
    assert paid_invoice({**paid_now, "amount_paid": 625.0}, "2026-10-28.endive") is None
    assert version_date("2025-03-31.basil").isoformat() == "2025-03-31"
    with pytest.raises(InvalidInput):
        version_date("2025-13-01")


def test_signatures_are_checked_by_the_sdk(engine: Engine) -> None:
    event = {
        "id": "evt_x",
        "object": "event",
        "api_version": stripe_sdk.api_version,
        "type": "customer.created",
        "data": {"object": {"id": "cus_1", "object": "customer"}},
    }
    raw = json.dumps(event).encode()
    now = int(time.time())
    with app_pinned_to(engine) as client:

        def post(header: str | None, body: bytes = raw):
            headers = {"Stripe-Signature": header} if header else {}
            return client.post("/v1/webhooks/stripe", content=body, headers=headers)

        assert post(sign(raw, SECRET, now)).json() == {"received": True, "result": "ignored"}
        assert post(sign(raw, SECRET, now - 290)).status_code == 200  # within 300 s
        assert_problem(
            post(sign(raw, SECRET, now - 301)), 401, "Stripe-Signature", "stale_timestamp"
        )
        assert_problem(
            post(sign(raw, "whsec_other", now)), 401, "Stripe-Signature", "bad_signature"
        )
        assert_problem(post("t=1,v0=abc"), 401, "Stripe-Signature", "bad_signature")
        assert_problem(post(None), 401, "Stripe-Signature", "missing_header")
        # Stripe only ever signs UTF-8 JSON, so its SDK's signer takes text: the signature of
        # these bytes is computed here, to show that even a matching one does not pass.
        latin = b"\xff\xfe"
        mac = hmac.new(SECRET.encode(), f"{now}.".encode() + latin, hashlib.sha256).hexdigest()
        assert_problem(post(f"t={now},v1={mac}", latin), 401, "Stripe-Signature", "bad_signature")
        assert_problem(post(sign(b"[1]", SECRET, now), b"[1]"), 422, "body", "not_an_event")
