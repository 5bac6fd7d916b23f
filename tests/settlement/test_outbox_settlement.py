"""Settlement runs tell the outbox, in the transaction of the step that made the change:
settlement.awaiting_approval when a run stops for finance, payout.paid / payout.failed with
each transfer's outcome, settlement.closed when the run closes; a resumed or repeated run
tells nothing twice."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy import Engine, select

from infra.standins.stripe_standin import StripeStandin
from settlement.outbox import OutboxEvent
from settlement.runs.approval import Decision, decide
from settlement.runs.runner import RunOutcome
from settlement.runs.tables import MemberPayout, SettlementRun
from tests.settlement.settle_world import SETTLED_AT, SettleWorld, build_world, link_payout_accounts


@pytest.fixture
def world(engine: Engine) -> Iterator[SettleWorld]:
    sw = build_world(engine, events=400, members=12)
    with StripeStandin() as stripe:
        link_payout_accounts(sw, stripe)
        yield sw


def told(engine: Engine, prefix: str) -> list[tuple]:
    t = OutboxEvent.__table__
    with engine.connect() as conn:
        rows = conn.execute(
            select(t.c.type, t.c.member_id, t.c.amount_minor, t.c.currency, t.c.data)
            .where(t.c.type.startswith(prefix))
            .order_by(t.c.id)
        ).all()
    return [(r.type, r.member_id, r.amount_minor, r.currency, json.loads(r.data)) for r in rows]


def test_a_run_tells_approval_payouts_and_closing_once(world: SettleWorld) -> None:
    assert world.stripe is not None and world.accounts is not None
    refused = next(iter(world.accounts))
    world.stripe.set_capability(world.accounts[refused], "transfers", "inactive")
    runner = world.runner(auto_below=1)  # any total needs finance
    first: RunOutcome = runner.settle(world.period, SETTLED_AT)
    assert first.status == "awaiting_approval"
    with world.engine.connect() as conn:
        run = conn.execute(select(SettlementRun.__table__)).one()
    assert told(world.engine, "settlement.") == [
        (
            "settlement.awaiting_approval",
            None,
            None,
            None,
            {"period": "2026-W45", "run_id": run.id, "total_amount_minor": run.total_amount},
        )
    ]
    runner.settle(world.period, SETTLED_AT)  # still waiting: not told again
    assert len(told(world.engine, "settlement.")) == 1

    with world.engine.begin() as conn:
        decide(conn, run.id, decision=Decision.APPROVED, actor="fin", reason="", now=SETTLED_AT)
    closed_at = SETTLED_AT + timedelta(hours=1)
    assert runner.settle(world.period, closed_at).status == "closed"
    assert [t[0] for t in told(world.engine, "settlement.")] == [
        "settlement.awaiting_approval",
        "settlement.closed",
    ]
    assert told(world.engine, "settlement.closed")[0][4]["run_id"] == run.id

    with world.engine.connect() as conn:
        payouts = list(conn.execute(select(MemberPayout.__table__).order_by("id")))
    paid = [p for p in payouts if p.status == "paid"]
    failed = [p for p in payouts if p.status == "failed"]
    assert paid and [p.member_id for p in failed] == [refused]
    assert told(world.engine, "payout.paid") == [
        ("payout.paid", p.member_id, p.amount, p.currency, {"payout_id": p.id, "run_id": run.id})
        for p in paid
    ]
    [(kind, member_id, amount, _, facts)] = told(world.engine, "payout.failed")
    assert (kind, member_id, amount) == ("payout.failed", refused, failed[0].amount)
    assert facts["failure_reason"].startswith("account_not_ready")

    runner.settle(world.period, closed_at)  # a closed run: nothing more
    assert len(told(world.engine, "payout.")) == len(payouts)
    assert len(told(world.engine, "settlement.")) == 2
