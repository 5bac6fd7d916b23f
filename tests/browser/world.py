"""What the member journeys need around the browser: a merchant with offers (through the
API, as a merchant would set them up), signed network events, maturation and settlement."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import httpx
from playwright.sync_api import Page
from sqlmodel import Session, select

from service.auth import Role
from service.feeds.signing import signed_headers
from service.integrations.stripe_billing import StripeBilling, StripePayouts
from service.settlements.tables import Donation
from service.tables import Card
from service.web.tables import MemberLogin
from settlement.runs.periods import week_of
from settlement.runs.ports import Ports
from settlement.runs.runner import RunSettings, SettlementRunner
from tests.browser.harness import LiveApp
from tests.service.api_client import FEED_KEYS, bearer, iso, issue_key

MID = "MID-BB-1"
PASSWORD = "correct horse battery"
HOLD_DAYS = 7


@dataclass
class World:
    merchant_id: int
    activation_offer_id: int  # 5% back on $10 or more, up to $20, activate first
    stamp_offer_id: int
    charity_id: int


@contextmanager
def admin_api(live: LiveApp) -> Iterator[Callable[..., dict]]:
    """`post(path, body)` to the live API as an admin; anything but 200 or 201 fails."""
    admin = bearer(issue_key(live.engine, role=Role.ADMIN))
    with httpx.Client(base_url=live.url, headers=admin) as api:

        def post(path: str, body: dict | None = None) -> dict:
            resp = api.post(path, json=body)
            assert resp.status_code in (200, 201), resp.text
            return resp.json()

        yield post


def sign_up(page: Page, live: LiveApp, email: str, name: str = "Ada") -> None:
    page.goto(f"{live.url}/app/sign-up")
    page.get_by_label("Your name").fill(name)
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Create account").click()
    page.wait_for_url("**/app/cards?welcome=1")


def build_world(live: LiveApp) -> World:
    with admin_api(live) as post:
        merchant = post(
            "/v1/merchants",
            {
                "brand_name": "Blue Bottle",
                "billing_email": "ap@bluebottle.example",
                "timezone": "America/New_York",
                "currency": "USD",
                "default_commission_bps": 2000,
                "category": "dining",
            },
        )
        mid = merchant["id"]
        post(f"/v1/merchants/{mid}/locations", {"name": "Blue Bottle Soho", "mid": MID})
        post(f"/v1/merchants/{mid}/locations", {"name": "Blue Bottle Chelsea", "mid": "MID-BB-2"})
        start = iso(datetime.now(UTC) - timedelta(days=1))
        offer = post(
            f"/v1/merchants/{mid}/offers",
            {
                "title": "Coffee week",
                "reward_type": "percent",
                "rate_bps": 500,
                "min_spend_amount": 1000,
                "max_reward_amount": 2000,
                "activation_required": True,
                "hold_days": HOLD_DAYS,
                "starts_at": start,
                "ends_at": iso(datetime.now(UTC) + timedelta(days=60)),
            },
        )
        post(f"/v1/offers/{offer['id']}/publish")
        other = post(
            "/v1/merchants",
            {
                "brand_name": "Corner Books",
                "billing_email": "ap@cornerbooks.example",
                "timezone": "America/New_York",
                "currency": "USD",
                "category": "shopping",
            },
        )
        post(f"/v1/merchants/{other['id']}/locations", {"name": "Corner Books", "mid": "MID-CB-1"})
        stamp = post(
            f"/v1/merchants/{other['id']}/offers",
            {
                "title": "Fifth visit on us",
                "kind": "stamp_card",
                "reward_type": "fixed",
                "reward_amount": 500,
                "stamp_every_n": 5,
                "starts_at": start,
                "ends_at": iso(datetime.now(UTC) + timedelta(days=5)),
            },
        )
        post(f"/v1/offers/{stamp['id']}/publish")
        charity = post("/v1/charities", {"name": "City Food Bank"})
    return World(mid, offer["id"], stamp["id"], charity["id"])


def member_id_of(live: LiveApp, email: str) -> int:
    with Session(live.engine) as session:
        login = session.exec(select(MemberLogin).where(MemberLogin.email == email)).one()
        return login.member_id


def card_id_of(live: LiveApp, email: str, last4: str) -> int:
    member_id = member_id_of(live, email)
    with Session(live.engine) as session:
        card = session.exec(
            select(Card).where(Card.member_id == member_id, Card.last4 == last4)
        ).one()
        assert card.id is not None
        return card.id


def push_event(live: LiveApp, **event) -> dict:
    """A signed network webhook with one event, as a card network sends it."""
    body = {
        "currency": "USD",
        "occurred_at": iso(datetime.now(UTC)),  # after the activation a moment ago
        "mid": MID,
        **event,
    }
    raw = json.dumps({"events": [body]}).encode()
    ts = int(time.time())
    resp = httpx.post(
        f"{live.url}/v1/feeds/network/events",
        content=raw,
        headers={
            **signed_headers("k1", FEED_KEYS["k1"], raw, now_unix=ts),
            "Content-Type": "application/json",
        },
    )
    assert resp.status_code == 200, resp.text
    return resp.json()["results"][0]


def settle_now(live: LiveApp, at: datetime) -> None:
    """The weekly settlement run (maturation included) as the scheduler would run it at `at`."""
    client = live.stripe.client(max_network_retries=0)
    runner = SettlementRunner(
        live.engine,
        Ports(StripeBilling(live.engine, client), StripePayouts(live.engine, client)),
        RunSettings(
            auto_approve_below_amount=10**12,
            payout_minimum_amount=live.settings.payout_minimum_amount,
        ),
    )
    outcome = runner.settle(week_of(datetime.now(UTC)), at)
    assert outcome.status == "closed", outcome


def donations_of(live: LiveApp, email: str) -> int:
    member_id = member_id_of(live, email)
    with Session(live.engine) as session:
        return len(session.exec(select(Donation).where(Donation.member_id == member_id)).all())
