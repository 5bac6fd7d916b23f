"""Staff test helpers: merchants and staff users, browsers signed in through the pages."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime

from fastapi.testclient import TestClient
from sqlmodel import Session

from service.merchants import service as merchants
from service.merchants.schemas import LocationCreate, MerchantCreate
from service.web.staff.accounts import create_user

PASSWORD = "staff password 2026"
HOME = {"merchant": "/merchant/offers", "finance": "/finance"}


@dataclass
class Tenant:
    merchant_id: int
    owner: str
    analyst: str


def add_merchant(engine, *, name: str = "Blue Bottle", mid: str = "MID-BB-1") -> Tenant:
    now = datetime.now(UTC)
    slug = re.sub(r"[^a-z]+", "", name.lower())
    with Session(engine) as session:
        merchant = merchants.create_merchant(
            session,
            MerchantCreate(
                brand_name=name, billing_email=f"ap@{slug}.example", timezone="America/New_York",
                currency="USD",
                default_commission_bps=2000, category="dining",
            ),
            now=now,
        )  # fmt: skip
        assert merchant.id is not None
        merchants.create_location(
            session, merchant, LocationCreate(name=f"{name} Soho", mid=mid), now=now
        )
        for role in ("owner", "analyst"):
            create_user(
                session, email=f"{role}@{slug}.example", password=PASSWORD, side="merchant",
                role=role, merchant_id=merchant.id, now=now,
            )  # fmt: skip
        session.commit()
        return Tenant(merchant.id, f"owner@{slug}.example", f"analyst@{slug}.example")


def add_finance_user(engine, email: str, role: str) -> None:
    with Session(engine) as session:
        create_user(
            session, email=email, password=PASSWORD, side="finance", role=role,
            now=datetime.now(UTC),
        )  # fmt: skip
        session.commit()


def browser(app) -> TestClient:
    return TestClient(app, base_url="http://localhost", follow_redirects=False)


def csrf_of(client: TestClient, path: str) -> str:
    page = client.get(path)
    found = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert found, page.text[:800]
    return found.group(1)


def form_token_of(html: str) -> str:
    found = re.search(r'name="form_token" value="([^"]+)"', html)
    assert found, html[:800]
    return found.group(1)


def sign_in(client: TestClient, side: str, email: str, password: str = PASSWORD):
    token = csrf_of(client, f"/{side}/sign-in")
    return client.post(
        f"/{side}/sign-in", data={"csrf_token": token, "email": email, "password": password}
    )


def signed_in(app, side: str, email: str) -> tuple[TestClient, str]:
    """A browser signed in as `email`, and its CSRF token for forms."""
    client = browser(app)
    resp = sign_in(client, side, email)
    assert resp.status_code == 303, resp.text[:800]
    return client, csrf_of(client, HOME[side])
