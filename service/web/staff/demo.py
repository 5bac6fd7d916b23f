"""What `clo demo --serve` adds for the merchant portal and the finance console: staff
sign-ins (a merchant owner and analyst of a brand with a control-group offer, a finance
reviewer and approver) and a second settled week that waits for approval."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import Engine, delete, update
from sqlmodel import Session, col, select

from infra.standins.stripe_standin import StripeStandin
from service.cli import ingest_file
from service.config import Settings
from service.integrations.stripe_billing import StripeBilling, StripePayouts, stripe_client
from service.settlements.ports import attribution_port
from service.settlements.tables import MemberPayoutAccount, MerchantBillingAccount
from service.synthetic import World, generate_events, write_csv
from service.tables import Merchant, Offer
from service.web.staff.accounts import create_user
from service.web.staff.tables import StaffUser
from settlement.runs.periods import previous_week
from settlement.runs.ports import Ports
from settlement.runs.runner import RunSettings, SettlementRunner

STAFF_PASSWORD = "demo-staff-2026"  # noqa: S105  (the offline demo's published sign-in)
OWNER_EMAIL = "owner@merchant.example"
APPROVER_EMAIL = "approver@finance.example"


def add_demo_staff(engine: Engine, now: datetime) -> list[str]:
    """Staff users for the demo; returns the lines to print (their sign-ins)."""
    with Session(engine) as session:
        if session.exec(select(StaffUser)).first() is None:
            holdout = session.exec(
                select(Offer).where(Offer.holdout_bps > 0).order_by(col(Offer.id))
            ).first()
            merchant_id = (
                holdout.merchant_id if holdout else session.exec(select(Merchant.id)).first()
            )
            for email, role in ((OWNER_EMAIL, "owner"), ("analyst@merchant.example", "analyst")):
                create_user(session, email=email, password=STAFF_PASSWORD, side="merchant",
                            role=role, merchant_id=merchant_id, now=now)  # fmt: skip
            for email, role in (
                ("reviewer@finance.example", "reviewer"),
                (APPROVER_EMAIL, "approver"),
            ):
                create_user(session, email=email, password=STAFF_PASSWORD, side="finance",
                            role=role, now=now)  # fmt: skip
            session.commit()
        brand = session.exec(
            select(Merchant.brand_name).join(
                StaffUser, col(StaffUser.merchant_id) == col(Merchant.id)
            )
        ).first()
    return [
        f"merchant portal: /merchant  sign in as {OWNER_EMAIL} / {STAFF_PASSWORD} "
        f"(owner of {brand}; analyst@merchant.example reads only)",
        f"finance console: /finance  sign in as {APPROVER_EMAIL} / {STAFF_PASSWORD} "
        "(reviewer@finance.example cannot approve)",
    ]


def _renamed(events: Iterator[dict], prefix: str) -> Iterator[dict]:
    for event in events:
        event = dict(event)
        for key in ("external_id", "original_external_id"):
            if event.get(key):
                event[key] = f"{prefix}{event[key]}"
        yield event


def second_week_awaiting_approval(
    engine: Engine, world: World, *, seed: int, booked_at: datetime, events: int = 2_000
) -> str:
    """More card events booked a week later, and that week's run stopped at approval."""
    with tempfile.TemporaryDirectory() as tmp:
        feed = Path(tmp) / "week-2.csv"
        start = booked_at - timedelta(days=6)
        write_csv(
            feed, _renamed(generate_events(world, seed=seed + 7, count=events, start=start), "w2-")
        )
        ingest_file(engine, feed, booked_at, quiet=True)
    settle_at = booked_at + timedelta(days=1)
    with StripeStandin() as stripe:
        client = stripe.client(max_network_retries=0)
        ports = Ports(
            StripeBilling(engine, client), StripePayouts(engine, client), attribution_port()
        )
        runner = SettlementRunner(engine, ports, RunSettings(auto_approve_below_amount=1))
        period = previous_week(settle_at)
        outcome = runner.settle(period, settle_at)
    return f"settlement {period.label}: {outcome.status} (approve it in the finance console)"


def move_to_served_stripe(engine: Engine, settings: Settings, now: datetime) -> None:
    """The served app talks to a fresh Stripe stand-in: give merchants and members new
    Stripe objects there, so approving the waiting week bills and pays for real."""
    client = stripe_client(settings)
    with engine.begin() as conn:
        conn.execute(delete(MerchantBillingAccount.__table__))  # created again on billing
        payout = MemberPayoutAccount.__table__
        for member_id in conn.execute(select(payout.c.member_id)).scalars().all():
            account = client.v1.accounts.create({"type": "express", "country": "US"})
            conn.execute(
                update(payout)
                .where(payout.c.member_id == member_id)
                .values(stripe_account_id=account.id, updated_at=now)
            )
