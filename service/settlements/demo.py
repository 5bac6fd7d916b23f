"""The settlement part of `clo demo`: one weekly run against an in-process Stripe stand-in."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Engine, func, insert, select

from infra.standins.stripe_standin import StripeStandin
from service.integrations.stripe_billing import StripeBilling, StripePayouts
from service.settlements.ports import attribution_port
from service.settlements.tables import MemberPayoutAccount
from settlement.runs.periods import previous_week
from settlement.runs.ports import Ports
from settlement.runs.runner import RunSettings, SettlementRunner
from settlement.runs.tables import MemberPayout, MerchantInvoice, SettlementStatement


def settle_demo(engine: Engine, now: datetime, member_ids: list[int], *, accounts: int = 100):
    """Link payout accounts for some members, settle the week before `now`; report lines."""
    with StripeStandin() as stripe:
        client = stripe.client(max_network_retries=0)
        rows = []
        for member_id in member_ids[:accounts]:
            acct = client.v1.accounts.create({"type": "express", "country": "US"})
            rows.append(
                {
                    "member_id": member_id,
                    "stripe_account_id": acct.id,
                    "created_at": now,
                    "updated_at": now,
                }
            )
        with engine.begin() as conn:
            conn.execute(insert(MemberPayoutAccount.__table__), rows)
        ports = Ports(
            StripeBilling(engine, client), StripePayouts(engine, client), attribution_port()
        )
        runner = SettlementRunner(
            engine, ports, RunSettings(auto_approve_below_amount=10**12, payout_minimum_amount=100)
        )
        period = previous_week(now)
        outcome = runner.settle(period, now)
        stripe_invoices = len(stripe.objects("invoice"))
        stripe_transfers = len(stripe.objects("transfer"))
    inv, st, p = MerchantInvoice.__table__, SettlementStatement.__table__, MemberPayout.__table__
    with engine.connect() as conn:
        net, lines = conn.execute(
            select(func.coalesce(func.sum(st.c.net_amount), 0), func.count())
        ).one()
        invoiced = conn.execute(select(func.coalesce(func.sum(inv.c.amount), 0))).scalar_one()
        paid = conn.execute(
            select(func.count(), func.coalesce(func.sum(p.c.amount), 0)).where(p.c.status == "paid")
        ).one()
    return [
        f"settlement {period.label}: {outcome.status}",
        f"  statements: {lines} merchants, net due {int(net) / 100:,.2f}",
        f"  invoices:   {stripe_invoices} sent via Stripe, {int(invoiced) / 100:,.2f}",
        f"  payouts:    {paid[0]} members paid ({stripe_transfers} transfers), "
        f"{int(paid[1]) / 100:,.2f}",
    ]
