"""Settlement runs happen exactly once: crashes between steps resume, closed runs are
left alone, racing schedulers share one run; invoices and payouts are never doubled."""

from __future__ import annotations

import os
import subprocess
import sys
import threading

import pytest
from sqlalchemy import func, select

from infra.standins.stripe_standin import StripeStandin
from settlement.ledger.check import check_ledger
from settlement.runs.records import STEPS
from settlement.runs.runner import CRASH_ENV, CRASH_EXIT_CODE
from settlement.runs.tables import (
    MemberPayout,
    MerchantInvoice,
    MerchantInvoiceItem,
    SettlementRun,
    SettlementRunStep,
)
from tests.settlement.settle_world import SETTLED_AT, build_world, link_payout_accounts


class Crash(Exception):
    pass


def crash_at(point: str):
    def hook(name: str) -> None:
        if name == point:
            raise Crash(point)

    return hook


def _count(conn, table) -> int:
    return conn.execute(select(func.count()).select_from(table.__table__)).scalar_one()


def assert_settled_once(sw) -> None:
    engine, stripe = sw.engine, sw.stripe
    with engine.connect() as conn:
        assert _count(conn, SettlementRun) == 1
        # + the recovery points inside steps: payouts_planned, charities_planned
        assert _count(conn, SettlementRunStep) == len(STEPS) + 2
        run = conn.execute(select(SettlementRun.__table__)).one()
        assert run.status == "closed"
        invoices = list(conn.execute(select(MerchantInvoice.__table__)))
        payouts = list(conn.execute(select(MemberPayout.__table__)))
        items = _count(conn, MerchantInvoiceItem)
        report = check_ledger(conn)
    assert report.balanced, report.lines()
    assert invoices and all(i.status == "sent" and i.invoice_ref for i in invoices)
    # One Stripe invoice per merchant, items exactly as recorded, one transfer per payout.
    stripe_invoices = stripe.objects("invoice")
    assert sorted(i["id"] for i in stripe_invoices) == sorted(i.invoice_ref for i in invoices)
    assert len({i["customer"] for i in stripe_invoices}) == len(invoices)
    assert len(stripe.objects("invoiceitem")) == items
    for inv in stripe_invoices:
        ours = next(i for i in invoices if i.invoice_ref == inv["id"])
        assert inv["amount_due"] == ours.amount
        assert inv["status"] == "open"
    assert payouts and all(p.status == "paid" for p in payouts)
    transfers = stripe.objects("transfer")
    assert sorted(t["id"] for t in transfers) == sorted(p.transfer_ref for p in payouts)
    assert len({p.member_id for p in payouts}) == len(payouts)


@pytest.fixture
def settle_world(engine):
    sw = build_world(engine)
    with StripeStandin() as stripe:
        link_payout_accounts(sw, stripe)
        yield sw


def test_a_run_goes_through_every_step_once(settle_world):
    sw = settle_world
    outcome = sw.runner().settle(sw.period, SETTLED_AT)
    assert outcome.status == "closed"
    assert outcome.steps_now == list(STEPS[1:])
    assert_settled_once(sw)
    # Settling the closed run again does nothing: no step, no call.
    calls = sw.stripe.counters()
    again = sw.runner().settle(sw.period, SETTLED_AT)
    assert again.status == "closed" and again.steps_now == []
    assert sw.stripe.counters() == calls
    assert_settled_once(sw)


CRASH_POINTS = [f"after:{step}" for step in STEPS[:-1]] + [
    "bill:invoice_created",
    "bill:item_added",
    "bill:invoice_sent",
    "pay:planned",
    "pay:transferred",
]


@pytest.mark.parametrize("point", CRASH_POINTS)
def test_a_crash_at_any_point_resumes_without_doubling(settle_world, point):
    sw = settle_world
    with pytest.raises(Crash):
        sw.runner(hook=crash_at(point)).settle(sw.period, SETTLED_AT)
    # Stripe has forgotten every idempotency key by the time the run resumes.
    sw.stripe.expire_idempotency_keys()
    outcome = sw.runner().settle(sw.period, SETTLED_AT)
    assert outcome.status == "closed"
    assert_settled_once(sw)


def test_two_schedulers_racing_make_one_run(settle_world):
    sw = settle_world
    results, errors = [], []

    def go() -> None:
        try:
            results.append(sw.runner().settle(sw.period, SETTLED_AT))
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=go) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    assert any(r.status == "closed" for r in results)
    sw.runner().settle(sw.period, SETTLED_AT)
    assert_settled_once(sw)


@pytest.mark.parametrize("point", ["after:statements", "bill:item_added", "pay:transferred"])
def test_a_killed_process_resumes_without_doubling(settle_world, db_url, point):
    """The real thing: `clo settle` dies with os._exit mid-run, and a second one finishes."""
    sw = settle_world
    env = {
        **os.environ,
        "CLO_DATABASE_URL": db_url,
        "CLO_STRIPE_API_KEY": sw.stripe.api_key,
        "CLO_STRIPE_API_BASE": sw.stripe.url,
        "CLO_SETTLEMENT_AUTO_APPROVE_BELOW_AMOUNT": str(10**12),
        "CLO_PAYOUT_MINIMUM_AMOUNT": "100",
    }
    argv = [sys.executable, "-m", "service.cli", "settle", "--period", sw.period.label]
    argv += ["--now", SETTLED_AT.isoformat()]
    crashed = subprocess.run(
        argv, env={**env, CRASH_ENV: point}, capture_output=True, text=True, timeout=120
    )
    assert crashed.returncode == CRASH_EXIT_CODE, crashed.stderr
    sw.stripe.expire_idempotency_keys()
    done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "closed" in done.stdout
    assert_settled_once(sw)
