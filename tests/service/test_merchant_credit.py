"""Every cent has a path: a period whose refunds exceed its charges leaves the merchant a
credit, shown in its statement, granted on its Stripe customer balance once, and taken off
its next invoice.

Worked example (5% offer, 20% commission on the reward, so the merchant pays 6.25%):
- 2026-W41: a $40.00 purchase clears: reward 200 + commission 50, the merchant owes 250,
  invoiced 250;
- 2026-W42: the purchase is refunded in full: clawback 200 + 50, net -250: a credit of 250,
  a customer balance transaction of -250, no invoice;
- 2026-W43: a $100.00 purchase clears: 500 + 125, net 625: invoiced 625, the credit of 250
  applied, 375 due.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy import Engine, select, update

from infra.standins.stripe_standin import StripeStandin
from service.integrations.stripe_billing import StripeBilling, StripePayouts
from service.tables import Merchant
from settlement.runs.periods import iso_week
from settlement.runs.ports import Ports
from settlement.runs.runner import RunSettings, SettlementRunner
from settlement.runs.tables import MerchantCredit, SettlementStatement
from tests.service.pipeline_world import T0, PipelineWorld


@pytest.fixture
def stripe() -> Iterator[StripeStandin]:
    with StripeStandin() as standin:
        yield standin


def test_a_negative_period_is_credited_and_taken_off_the_next_invoice(
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
    week = timedelta(days=7)
    world.ingest(world.event("clearing", card=1, amount=4_000, ext="c-40"), now=T0)
    assert runner.settle(iso_week("2026-W41"), T0 + week).status == "closed"
    world.ingest(
        world.event("refund", card=1, amount=4_000, ext="r-40", original="c-40", at=T0 + week),
        now=T0 + week,
    )
    w42 = runner.settle(iso_week("2026-W42"), T0 + 2 * week)
    assert w42.status == "closed"
    with engine.connect() as conn:
        statement = conn.execute(
            select(SettlementStatement.__table__).where(
                SettlementStatement.__table__.c.run_id == w42.run_id
            )
        ).one()
        credit = conn.execute(select(MerchantCredit.__table__)).one()
    assert (statement.net_amount, statement.credit_amount) == (-250, 250)
    assert (credit.run_id, credit.amount, credit.status) == (w42.run_id, 250, "granted")
    (customer,) = stripe.objects("customer")
    assert customer["balance"] == -250
    assert len(stripe.objects("invoice")) == 1  # W41's; nothing billed for W42

    runner.settle(iso_week("2026-W42"), T0 + 2 * week)  # again: nothing granted twice
    assert len(stripe.objects("customer_balance_transaction")) == 1

    world.ingest(
        world.event("clearing", card=1, amount=10_000, ext="c-100", at=T0 + 2 * week),
        now=T0 + 2 * week,
    )
    assert runner.settle(iso_week("2026-W43"), T0 + 3 * week).status == "closed"
    newest = stripe.objects("invoice")[0]
    assert (newest["total"], newest["starting_balance"], newest["amount_due"]) == (625, -250, 375)
    assert stripe.objects("customer")[0]["balance"] == 0
