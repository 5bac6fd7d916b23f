"""What `clo demo --serve` adds for the web front ends: a member who can sign in to /app,
a charity to donate to, and the Stripe and Plaid stand-ins serving the card form and bank
link scripts, so every step of the member app works offline."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from datetime import datetime

from sqlalchemy import Engine
from sqlmodel import select

from infra.standins.plaid_standin import PlaidStandin
from infra.standins.stripe_standin import StripeStandin
from service.config import Settings
from service.db import unit_of_work
from service.settlements.tables import Charity
from service.tables import Member
from service.web.passwords import hash_password
from service.web.tables import MemberLogin

DEMO_EMAIL = "demo@clo.example"
DEMO_PASSWORD = "demo-cashback-2026"  # noqa: S105  (the offline demo's published sign-in)


def add_demo_member_login(engine: Engine, member_id: int, now: datetime) -> tuple[str, str]:
    """A web sign-in for an existing demo member (the one with a bank link and activity)."""
    with unit_of_work(engine) as session:
        member = session.get(Member, member_id)
        assert member is not None
        member.display_name = member.display_name or "Demo member"
        if session.get(MemberLogin, member_id) is None:
            session.add(
                MemberLogin(
                    member_id=member_id,
                    email=DEMO_EMAIL,
                    password_hash=hash_password(DEMO_PASSWORD),
                    created_at=now,
                    password_changed_at=now,
                )
            )
        if session.exec(select(Charity)).first() is None:
            session.add(Charity(name="City Food Bank", created_at=now))
            session.add(Charity(name="Clean Rivers Trust", created_at=now))
    return DEMO_EMAIL, DEMO_PASSWORD


@contextmanager
def demo_web_settings(base: Settings, host: str, port: int) -> Iterator[Settings]:
    """Settings whose card form and bank link talk to in-process stand-ins."""
    with ExitStack() as stack:
        stripe = stack.enter_context(StripeStandin())
        plaid = stack.enter_context(PlaidStandin())
        origin_host = "localhost" if host in ("127.0.0.1", "0.0.0.0", "::1") else host  # noqa: S104
        yield base.model_copy(
            update={
                "web_origin": f"http://{origin_host}:{port}",
                "stripe_api_key": stripe.api_key,
                "stripe_api_base": stripe.url,
                "stripe_publishable_key": stripe.publishable_key,
                "stripe_js_url": f"{stripe.url}/v3/",
                "plaid_client_id": plaid.client_id,
                "plaid_secret": plaid.secret,
                "plaid_host": plaid.url,
                "plaid_link_js_url": f"{plaid.url}/link/v2/stable/link-initialize.js",
            }
        )
