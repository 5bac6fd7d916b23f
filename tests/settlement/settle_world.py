"""A realistic world for settlement tests: a seeded synthetic feed ingested through the
production pipeline, Stripe connected accounts for the members, ports on a stand-in."""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import Engine, insert

from infra.standins.stripe_standin import StripeStandin
from service.cli import ingest_file
from service.integrations.stripe_billing import StripeBilling, StripePayouts
from service.settlements.tables import MemberPayoutAccount
from service.synthetic import World, generate_events, seed_world, write_csv
from settlement.runs.periods import Period, iso_week
from settlement.runs.ports import Ports
from settlement.runs.runner import RunSettings, SettlementRunner

# The feed covers purchases from 2026-09-25 on and is ingested in one go on 2026-11-03: what
# it books lands in that week, 2026-W45, which is the period settled (runs settle by booking
# time, not by purchase time).
FEED_START = iso_week("2026-W41").start - timedelta(days=10)
INGESTED_AT = datetime(2026, 11, 3, tzinfo=UTC)
PERIOD = iso_week("2026-W45")  # Monday 2026-11-02 .. Monday 2026-11-09, holds INGESTED_AT
# Late enough that every reward's hold has passed: the run matures all, members are paid.
SETTLED_AT = datetime(2026, 12, 7, 3, 0, tzinfo=UTC)


@dataclass
class SettleWorld:
    engine: Engine
    world: World
    period: Period
    stripe: StripeStandin | None = None
    accounts: dict[int, str] | None = None

    def ports(self) -> Ports:
        assert self.stripe is not None
        client = self.stripe.client(max_network_retries=0)
        return Ports(StripeBilling(self.engine, client), StripePayouts(self.engine, client))

    def runner(self, *, auto_below: int = 10**12, minimum: int = 100, hook=None):
        return SettlementRunner(
            self.engine,
            self.ports(),
            RunSettings(auto_approve_below_amount=auto_below, payout_minimum_amount=minimum),
            hook=hook,
        )


def build_world(
    engine: Engine, *, events: int = 1500, seed: int = 5, members: int = 40
) -> SettleWorld:
    world = seed_world(engine, seed=seed, now=FEED_START, merchants=6, offers=8, members=members)
    with tempfile.TemporaryDirectory() as tmp:
        feed = Path(tmp) / "feed.csv"
        write_csv(
            feed,
            generate_events(world, seed=seed, count=events, start=FEED_START, malformed_share=0.0),
        )
        ingest_file(engine, feed, INGESTED_AT, quiet=True)
    return SettleWorld(engine, world, PERIOD)


def link_payout_accounts(sw: SettleWorld, stripe: StripeStandin, *, every: int = 1) -> None:
    """Give members (every n-th) a connected account on the stand-in."""
    client = stripe.client(max_network_retries=0)
    rows, accounts = [], {}
    for member_id in sw.world.member_ids[::every]:
        acct = client.v1.accounts.create({"type": "express", "country": "US"})
        accounts[member_id] = acct.id
        rows.append(
            {
                "member_id": member_id,
                "stripe_account_id": acct.id,
                "created_at": INGESTED_AT,
                "updated_at": INGESTED_AT,
            }
        )
    with sw.engine.begin() as conn:
        conn.execute(insert(MemberPayoutAccount.__table__), rows)
    sw.stripe, sw.accounts = stripe, accounts
