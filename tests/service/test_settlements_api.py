"""The settlements API: finance approves or rejects before money moves, statements and CSV,
the Stripe webhook records merchant payments, members donate available cashback."""

from __future__ import annotations

import json
import time

import pytest
from sqlalchemy import select

from infra.standins.stripe_standin import StripeStandin, sign
from service.app import create_app
from service.auth import Role
from service.config import Settings
from settlement.ledger.accounts import AccountKind, account_code
from settlement.ledger.check import check_ledger
from settlement.runs.tables import MerchantInvoice
from settlement.tables import LedgerAccount, LedgerEntry
from tests.balances import posted
from tests.service.api_client import FEED_KEYS, Api, assert_problem, bearer, issue_key
from tests.settlement.settle_world import SETTLED_AT, build_world, link_payout_accounts

_accounts = LedgerAccount.__table__

WEBHOOK_SECRET = "whsec_test_settlements_0123456789"


@pytest.fixture
def world(engine):
    from fastapi.testclient import TestClient

    sw = build_world(engine)
    settings = Settings(
        environment="test", feed_signing_keys=FEED_KEYS, stripe_webhook_secret=WEBHOOK_SECRET
    )
    with (
        StripeStandin(webhook_secret=WEBHOOK_SECRET) as stripe,
        TestClient(create_app(engine=engine, settings=settings)) as client,
    ):
        link_payout_accounts(sw, stripe)
        sw.api = Api(
            client=client,
            engine=engine,
            admin=bearer(issue_key(engine, role=Role.ADMIN)),
            publisher=bearer(issue_key(engine, role=Role.PUBLISHER)),
            finance=bearer(issue_key(engine, role=Role.FINANCE)),
        )
        yield sw


def test_finance_approves_a_large_run_before_money_moves(world):
    api = world.api
    first = world.runner(auto_below=1).settle(world.period, SETTLED_AT)
    assert first.status == "awaiting_approval"
    assert world.stripe.objects("invoice") == [] and world.stripe.objects("transfer") == []

    runs = api.get("/v1/settlements/runs", api.finance).json()["items"]
    assert [r["status"] for r in runs] == ["awaiting_approval"]
    run_id = runs[0]["id"]
    merchant = api.key(Role.MERCHANT, merchant_id=1)
    assert api.get(f"/v1/settlements/runs/{run_id}", merchant).status_code == 403
    assert_problem(api.get("/v1/settlements/runs/999", api.finance), 404, "run_id", "not-found")

    statements = api.get(f"/v1/settlements/runs/{run_id}/statements", api.finance).json()
    assert (
        sum(s["net_amount"] for s in statements if s["net_amount"] > 0) == runs[0]["total_amount"]
    )
    for s in statements:
        assert s["net_amount"] == sum(line["net_amount"] for line in s["lines"])
    csv_resp = api.get(f"/v1/settlements/runs/{run_id}/statements.csv", api.finance)
    assert csv_resp.headers["content-type"].startswith("text/csv")
    rows = csv_resp.text.strip().splitlines()
    assert rows[0].startswith("run_id,period,merchant_id,offer_id,currency,qualified_count")
    assert len(rows) - 1 == sum(len(s["lines"]) for s in statements)

    assert_problem(
        api.post(f"/v1/settlements/runs/{run_id}/approve", api.finance, {"extra": 1}),
        422,
        "extra",
        "extra_forbidden",
    )
    resp = api.post(f"/v1/settlements/runs/{run_id}/approve", api.finance, {"reason": "checked"})
    assert resp.status_code == 200, resp.text
    detail = resp.json()
    assert detail["status"] == "approved"
    assert detail["decisions"][0]["decision"] == "approved"
    assert detail["decisions"][0]["actor"].startswith("finance:credential:")
    assert detail["decisions"][0]["reason"] == "checked"
    again = api.post(f"/v1/settlements/runs/{run_id}/approve", api.finance, {})
    assert_problem(again, 409, "run_id", "not_awaiting_approval")

    done = world.runner(auto_below=1).settle(world.period, SETTLED_AT)
    assert done.status == "closed"
    assert len(world.stripe.objects("invoice")) == len(
        [s for s in statements if s["net_amount"] > 0]
    )
    report = api.get(f"/v1/settlements/runs/{run_id}/report", api.finance).json()
    assert report["source"] in ("service.attribution", "settlement.fallback")


def test_a_rejected_run_moves_no_money(world):
    api = world.api
    world.runner(auto_below=1).settle(world.period, SETTLED_AT)
    run_id = api.get("/v1/settlements/runs", api.finance).json()["items"][0]["id"]
    missing = api.post(f"/v1/settlements/runs/{run_id}/reject", api.finance, {})
    assert_problem(missing, 422, "reason", "missing")
    resp = api.post(
        f"/v1/settlements/runs/{run_id}/reject", api.finance, {"reason": "offer 3 misconfigured"}
    )
    assert resp.json()["status"] == "rejected"
    assert world.runner(auto_below=1).settle(world.period, SETTLED_AT).status == "rejected"
    assert world.stripe.objects("invoice") == [] and world.stripe.objects("transfer") == []
    audit = api.get(f"/v1/settlements/runs/{run_id}", api.finance).json()["decisions"]
    assert [(d["decision"], d["reason"]) for d in audit] == [("rejected", "offer 3 misconfigured")]


def _deliver(api: Api, event: dict, *, secret: str = WEBHOOK_SECRET, ts: int | None = None):
    raw = json.dumps(event).encode()
    header = sign(raw, secret, ts if ts is not None else int(time.time()))
    return api.client.post(
        "/v1/webhooks/stripe",
        content=raw,
        headers={"Stripe-Signature": header, "Content-Type": "application/json"},
    )


def test_invoice_paid_webhook_records_the_cash_once(world):
    api, engine = world.api, world.engine
    world.runner().settle(world.period, SETTLED_AT)
    with engine.connect() as conn:
        invoice = conn.execute(select(MerchantInvoice.__table__).limit(1)).one()
    receivable = account_code(AccountKind.MERCHANT_RECEIVABLE, invoice.merchant_id, "USD")
    before = posted(engine, receivable)
    world.stripe.pay_invoice(invoice.invoice_ref)
    event = world.stripe.events("invoice.paid")[0]

    assert _deliver(api, event).json() == {"received": True, "result": "handled"}
    assert _deliver(api, event).json() == {"received": True, "result": "duplicate"}
    assert posted(engine, receivable) == before + invoice.amount
    with engine.connect() as conn:
        status = conn.execute(
            select(MerchantInvoice.status).where(MerchantInvoice.invoice_ref == invoice.invoice_ref)
        ).scalar_one()
        receipts = conn.execute(
            select(LedgerEntry.id).where(LedgerEntry.kind == "cash_receipt")
        ).all()
        assert check_ledger(conn).balanced
    assert status == "paid" and len(receipts) == 1

    stale = _deliver(api, event, ts=int(time.time()) - 301)
    assert_problem(stale, 401, "Stripe-Signature", "stale_timestamp")
    forged = _deliver(api, event, secret="whsec_wrong")
    assert_problem(forged, 401, "Stripe-Signature", "bad_signature")
    unsigned = api.client.post("/v1/webhooks/stripe", content=b"{}")
    assert_problem(unsigned, 401, "Stripe-Signature", "missing_header")
    garbage = b"not json"
    resp = api.client.post(
        "/v1/webhooks/stripe",
        content=garbage,
        headers={"Stripe-Signature": sign(garbage, WEBHOOK_SECRET, int(time.time()))},
    )
    assert_problem(resp, 422, "body", "invalid_json")


def test_a_failed_transfer_returns_the_money_to_available(world):
    member_id = world.world.member_ids[0]
    world.stripe.fail_transfers_to(world.accounts[member_id], "error")
    other = world.world.member_ids[1]
    world.stripe.fail_transfers_to(world.accounts[other], "reverse")
    available = account_code(AccountKind.MEMBER_AVAILABLE, member_id, "USD")
    world.runner().settle(world.period, SETTLED_AT)
    assert posted(world.engine, available) > 0  # matured, payout failed, money back
    assert posted(world.engine, account_code(AccountKind.MEMBER_AVAILABLE, other, "USD")) > 0
    in_transit = account_code(AccountKind.PLATFORM_PAYOUTS_IN_TRANSIT, None, "USD")
    assert posted(world.engine, in_transit) == 0
    with world.engine.connect() as conn:
        assert check_ledger(conn).balanced


def test_members_donate_available_cashback(world):
    api = world.api
    world.runner(minimum=10**9).settle(world.period, SETTLED_AT)  # matured, nobody paid
    member_id = world.world.member_ids[0]
    from service.auth import Role as R

    member = api.key(R.MEMBER, member_id=member_id)
    charity = api.post("/v1/charities", api.admin, {"name": "Food Bank"}).json()
    available = account_code(AccountKind.MEMBER_AVAILABLE, member_id, "USD")
    before = posted(world.engine, available)
    assert before > 0
    body = {"charity_id": charity["id"], "amount": 1, "currency": "USD"}
    path = f"/v1/members/{member_id}/donations"
    headers = {**member, "Idempotency-Key": "d-1"}
    first = api.post(path, headers, body)
    assert first.status_code == 201, first.text
    assert first.json()["available_amount"] == before - 1
    assert api.post(path, headers, body).status_code == 200  # the same key: no second gift
    assert posted(world.engine, available) == before - 1
    charity_code = account_code(AccountKind.CHARITY_PAYABLE, charity["id"], "USD")
    assert posted(world.engine, charity_code) == 1

    too_much = {**body, "amount": before}
    resp = api.post(path, {**member, "Idempotency-Key": "d-2"}, too_much)
    assert_problem(resp, 422, "amount", "insufficient_available")
    resp = api.post(path, member, body)
    assert_problem(resp, 422, "Idempotency-Key", "missing")
    other = world.world.member_ids[1]
    resp = api.post(f"/v1/members/{other}/donations", {**member, "Idempotency-Key": "x"}, body)
    assert_problem(resp, 404, "member_id", "not-found")
    resp = api.post(path, {**member, "Idempotency-Key": "d-3"}, {**body, "charity_id": 99})
    assert_problem(resp, 404, "charity_id", "not-found")
    with world.engine.connect() as conn:
        assert check_ledger(conn).balanced
