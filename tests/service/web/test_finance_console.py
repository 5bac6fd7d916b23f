"""The finance console through its pages, on SQLite and PostgreSQL: a run waiting for
approval, maker-checker, reviewers refused, rejections need a reason, every decision in the
audit trail, statements reconciled to a zero difference, CSV, the ledger check."""

from __future__ import annotations

import csv
import io
import re

import pytest
from sqlmodel import Session, select

from infra.standins.stripe_standin import StripeStandin
from service.app import create_app
from service.config import Settings
from service.web.staff.tables import FinanceRunAction, StaffUser
from settlement.runs.tables import SettlementApproval, SettlementRun
from settlement.tables import LedgerAccount
from tests.service.pipeline_world import PipelineWorld
from tests.service.web.staff_world import add_finance_user, signed_in
from tests.settlement.settle_world import SETTLED_AT, build_world, link_payout_accounts


@pytest.fixture
def waiting_run(engine):
    """A settled week stopped at approval, and an app whose Stripe is the stand-in's."""
    sw = build_world(engine, events=400, members=20)
    with StripeStandin() as stripe:
        link_payout_accounts(sw, stripe, every=2)
        outcome = sw.runner(auto_below=1).settle(sw.period, SETTLED_AT)
        assert outcome.status == "awaiting_approval"
        settings = Settings(
            environment="test", stripe_api_key=stripe.api_key, stripe_api_base=stripe.url
        )
        add_finance_user(engine, "rita@finance.example", "reviewer")
        add_finance_user(engine, "abe@finance.example", "approver")
        add_finance_user(engine, "ann@finance.example", "approver")
        yield create_app(engine=engine, settings=settings), outcome.run_id


def status_of(engine, run_id: int) -> str:
    with Session(engine) as session:
        run = session.get(SettlementRun, run_id)
        assert run is not None
        return run.status


def test_a_reviewer_cannot_approve_and_a_rejection_needs_a_reason(waiting_run, engine):
    app, run_id = waiting_run
    reviewer, token = signed_in(app, "finance", "rita@finance.example")
    page = reviewer.get(f"/finance/runs/{run_id}")
    assert 'data-run-status="awaiting_approval"' in page.text
    assert "Approve: bill merchants" not in page.text
    refused = reviewer.post(f"/finance/runs/{run_id}/approve", data={"csrf_token": token})
    assert refused.status_code == 403
    approver, approver_token = signed_in(app, "finance", "abe@finance.example")
    no_reason = approver.post(f"/finance/runs/{run_id}/reject", data={"csrf_token": approver_token})
    assert no_reason.status_code == 422 and 'id="f-reason-error"' in no_reason.text
    no_token = approver.post(f"/finance/runs/{run_id}/approve", data={})
    assert no_token.status_code == 403
    assert status_of(engine, run_id) == "awaiting_approval"
    with Session(engine) as session:
        assert session.exec(select(SettlementApproval)).all() == []


def test_whoever_started_the_run_cannot_approve_it_but_another_approver_can(waiting_run, engine):
    app, run_id = waiting_run
    with Session(engine) as session:
        abe = session.exec(select(StaffUser).where(StaffUser.email == "abe@finance.example")).one()
        session.add(
            FinanceRunAction(run_id=run_id, staff_user_id=abe.id, action="started", at=SETTLED_AT)
        )
        session.commit()
    maker, maker_token = signed_in(app, "finance", "abe@finance.example")
    assert "another approver must decide" in maker.get(f"/finance/runs/{run_id}").text
    refused = maker.post(f"/finance/runs/{run_id}/approve", data={"csrf_token": maker_token})
    assert refused.status_code == 403 and "someone else must approve" in refused.text
    checker, checker_token = signed_in(app, "finance", "ann@finance.example")
    done = checker.post(
        f"/finance/runs/{run_id}/approve", data={"csrf_token": checker_token, "reason": "ok"}
    )
    assert done.status_code == 303
    page = checker.get(done.headers["location"])
    assert 'data-run-status="closed"' in page.text  # billed, paid and reported at once
    assert 'data-total-difference="0"' in page.text
    assert "approved</strong> by ann@finance.example" in page.text
    assert re.search(r"in_[A-Za-z0-9]+", page.text)  # the Stripe invoice ids
    twice = checker.post(f"/finance/runs/{run_id}/approve", data={"csrf_token": checker_token})
    assert twice.status_code == 409
    with Session(engine) as session:
        trail = session.exec(select(SettlementApproval)).all()
        assert [(a.decision, a.reason) for a in trail] == [("approved", "ok")]
        assert trail[0].actor.startswith("finance:staff:")


def test_statements_and_every_table_download_as_csv(waiting_run, engine):
    app, run_id = waiting_run
    client, _ = signed_in(app, "finance", "rita@finance.example")
    statements = client.get(f"/finance/runs/{run_id}/statements.csv")
    rows = list(csv.DictReader(io.StringIO(statements.text)))
    assert rows and {r["run_id"] for r in rows} == {str(run_id)}
    tables = ("runs.csv", f"runs/{run_id}/payouts.csv", f"runs/{run_id}/invoices.csv",
              "ledger/accounts.csv")  # fmt: skip
    for path in (f"/finance/{name}" for name in tables):
        resp = client.get(path)
        assert resp.status_code == 200 and resp.headers["content-type"].startswith("text/csv")


def test_the_ledger_check_runs_from_the_console(waiting_run, engine):
    app, _ = waiting_run
    client, token = signed_in(app, "finance", "rita@finance.example")
    assert "Not run since this server started" in client.get("/finance/ledger").text
    assert client.post("/finance/ledger/check", data={"csrf_token": token}).status_code == 303
    assert 'data-ledger-balanced="true"' in client.get("/finance/ledger").text
    account = client.get("/finance/ledger/accounts/1")
    assert account.status_code == 200 and "Postings" in account.text
    assert client.get("/finance/ledger/accounts/999999").status_code == 404


def test_finance_users_cannot_use_the_merchant_portal(waiting_run, engine):
    app, _ = waiting_run
    client, _ = signed_in(app, "finance", "rita@finance.example")
    resp = client.get("/merchant/offers")
    assert resp.status_code == 303 and resp.headers["location"].startswith("/merchant/sign-in")


def test_starting_last_weeks_run_records_its_maker(waiting_run, engine) -> None:
    app, _ = waiting_run
    client, token = signed_in(app, "finance", "rita@finance.example")
    resp = client.post("/finance/runs/start", data={"csrf_token": token})
    assert resp.status_code == 303 and resp.headers["location"].endswith("?started=1")
    again = client.post("/finance/runs/start", data={"csrf_token": token})
    assert again.headers["location"] == resp.headers["location"]  # the same run, once
    with Session(engine) as session:
        actions = session.exec(select(FinanceRunAction)).all()
        assert [a.action for a in actions] == ["started"]


def test_a_shared_accounts_page_shows_the_balance_its_feed_slots_hold(engine):
    """The feed keeps the platform's revenue in its writers' slot rows: the account's page
    shows the sum. A $40.00 purchase on a 5% offer with 20% commission on the reward, cleared:
    the platform keeps $0.50 and the merchant owes $2.50."""
    world = PipelineWorld(engine)
    world.member(member_id=1)
    world.offer(offer_id=10)
    world.pipeline.balance_slot = 2
    world.ingest(world.event(card=1, amount=4_000, ext="a1"))
    world.ingest(world.event("clearing", card=1, amount=4_000, ext="c1", original="a1"))
    add_finance_user(engine, "rita@finance.example", "reviewer")
    app = create_app(engine=engine, settings=Settings(environment="test"))
    client, _ = signed_in(app, "finance", "rita@finance.example")
    with Session(engine) as session:
        ids = dict(session.exec(select(LedgerAccount.code, LedgerAccount.id)).all())
    for code, shown in (("platform:revenue:USD", "$0.50"), ("merchant:1:receivable:USD", "-$2.50")):
        page = client.get(f"/finance/ledger/accounts/{ids[code]}")
        posted = re.search(r'Posted</p><p class="value">([^<]*)<', page.text)
        assert posted is not None and posted.group(1) == shown, code
