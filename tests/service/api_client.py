"""Helpers for API tests: an app on the test engine, credentials per role, keyword factories."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from fastapi.testclient import TestClient
from httpx import Response
from sqlalchemy import Engine, select
from sqlmodel import Session, SQLModel
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.app import create_app
from service.auth import Role, issue_credential
from service.config import Settings
from service.feeds.signing import signed_headers

FEED_KEYS = {"k1": "k1-secret-for-api-tests-only-00000000"}
TEST_ENCRYPTION_KEY = "dGVzdC1vbmx5LWVuY3J5cHRpb24ta2V5LTAwMDAwMDA="  # Fernet, tests only
PAN = "4242424242424242"  # Luhn-valid, Visa prefix: a full card number
Headers = dict[str, str]
T = TypeVar("T")


@dataclass
class Api:
    client: TestClient
    engine: Engine
    admin: Headers
    publisher: Headers
    finance: Headers

    def key(
        self, role: Role, *, merchant_id: int | None = None, member_id: int | None = None
    ) -> Headers:
        """A fresh credential of `role`, as request headers."""
        return bearer(
            issue_key(self.engine, role=role, merchant_id=merchant_id, member_id=member_id)
        )

    def get(self, path: str, headers: Headers, **kw: Any) -> Response:
        return self.client.get(path, headers=headers, **kw)

    def post(self, path: str, headers: Headers, body: Any = None, **kw: Any) -> Response:
        return self.client.post(path, headers=headers, json=body, **kw)

    def patch(self, path: str, headers: Headers, body: Any, **kw: Any) -> Response:
        return self.client.patch(path, headers=headers, json=body, **kw)

    def delete(self, path: str, headers: Headers, **kw: Any) -> Response:
        return self.client.delete(path, headers=headers, **kw)


def bearer(token: str) -> Headers:
    return {"Authorization": f"Bearer {token}"}


def issue_key(
    engine: Engine,
    *,
    role: Role = Role.ADMIN,
    merchant_id: int | None = None,
    member_id: int | None = None,
) -> str:
    with Session(engine) as session:
        token = issue_credential(
            session,
            role=role,
            now=datetime.now(UTC),
            merchant_id=merchant_id,
            member_id=member_id,
        )
        session.commit()
    return token


@contextmanager
def api_for(engine: Engine, **settings_fields: Any) -> Iterator[Api]:
    """An app on the test engine (raising server errors) with admin, publisher, finance keys;
    `settings_fields` change the test settings."""
    fields: dict[str, Any] = {
        "environment": "test",
        "feed_signing_keys": FEED_KEYS,
        "encryption_keys": [TEST_ENCRYPTION_KEY],
    }
    settings = Settings(**(fields | settings_fields))
    app = create_app(engine=engine, settings=settings)
    # raise_server_exceptions: an unexpected error fails the test loudly instead of a 500.
    with TestClient(app, raise_server_exceptions=True) as client:
        yield Api(
            client=client,
            engine=engine,
            admin=bearer(issue_key(engine, role=Role.ADMIN)),
            publisher=bearer(issue_key(engine, role=Role.PUBLISHER)),
            finance=bearer(issue_key(engine, role=Role.FINANCE)),
        )


def noting_responses(app: ASGIApp, order: list[str]) -> ASGIApp:
    """`app`, appending "response" to `order` as each response starts to leave."""

    async def wrapped(scope: Scope, receive: Receive, send: Send) -> None:
        async def send_and_note(message: Message) -> None:
            if message["type"] == "http.response.start":
                order.append("response")
            await send(message)

        await app(scope, receive, send_and_note)

    return wrapped


def in_own_session(engine: Engine, work: Callable[[Session], T]) -> T:
    """`work` in a session of its own, committed (for a second, concurrent request)."""
    with Session(engine) as session:
        result = work(session)
        session.commit()
        return result


def assert_problem(resp: Response, status: int, field: str, reason: str) -> dict:
    """A problem document with `status` whose first error names `field` and `reason`."""
    assert resp.status_code == status, resp.text
    assert resp.headers["content-type"].startswith("application/problem+json")
    body = resp.json()
    assert body["status"] == status
    assert body["errors"][0]["field"] == field, body
    assert body["errors"][0]["reason"] == reason, body
    return body


def assert_stored_nowhere(engine: Engine, digits: str) -> None:
    """No row of any table holds `digits`, with or without separators."""
    with engine.connect() as conn:
        for table in SQLModel.metadata.sorted_tables:
            for row in conn.execute(select(table)):
                text = "".join(str(v) for v in row).replace(" ", "").replace("-", "")
                assert digits not in text, f"{table.name} holds {digits}"


def iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat()


# -- factories: keyword-only, with defaults --------------------------------------------------
def create_merchant(
    api: Api,
    *,
    brand_name: str = "Blue Bottle",
    timezone: str = "America/New_York",
    currency: str = "USD",
    default_commission_bps: int = 2000,
    billing_email: str | None = "billing@merchant.example",
) -> dict:
    resp = api.post(
        "/v1/merchants",
        api.admin,
        {
            "billing_email": billing_email,
            "brand_name": brand_name,
            "timezone": timezone,
            "currency": currency,
            "default_commission_bps": default_commission_bps,
        },
    )
    assert resp.status_code == 201, resp.text
    return resp.json()


def create_location(
    api: Api,
    *,
    merchant_id: int,
    mid: str = "MID-BB-1",
    name: str = "Blue Bottle Soho",
    headers: Headers | None = None,
) -> dict:
    resp = api.post(
        f"/v1/merchants/{merchant_id}/locations", headers or api.admin, {"name": name, "mid": mid}
    )
    assert resp.status_code == 201, resp.text
    return resp.json()


def offer_body(
    *,
    title: str = "5% back",
    rate_bps: int = 500,
    starts_at: datetime | None = None,
    **fields: Any,
) -> dict:
    start = starts_at or datetime.now(UTC) - timedelta(days=1)
    body = {"title": title, "reward_type": "percent", "rate_bps": rate_bps, "starts_at": iso(start)}
    body.update(fields)
    return body


def create_offer(
    api: Api,
    *,
    merchant_id: int,
    headers: Headers | None = None,
    publish: bool = False,
    **fields: Any,
) -> dict:
    resp = api.post(
        f"/v1/merchants/{merchant_id}/offers", headers or api.admin, offer_body(**fields)
    )
    assert resp.status_code == 201, resp.text
    offer = resp.json()
    if publish:
        resp = api.post(f"/v1/offers/{offer['id']}/publish", headers or api.admin)
        assert resp.status_code == 200, resp.text
        offer = resp.json()
    return offer


def create_member(api: Api, *, display_name: str = "Ada", **fields: Any) -> tuple[dict, Headers]:
    """The member and its token as headers."""
    resp = api.post("/v1/members", api.publisher, {"display_name": display_name, **fields})
    assert resp.status_code == 201, resp.text
    body = resp.json()
    return body["member"], bearer(body["token"])


def card_body(
    *,
    provider_token: str = "tok_1",  # noqa: S107 (a card token, not a secret)
    fingerprint: str = "fp_1",
    brand: str = "visa",
    last4: str = "4242",
    exp_month: int = 12,
    exp_year: int = 2030,
) -> dict:
    return {
        "provider_token": provider_token,
        "fingerprint": fingerprint,
        "brand": brand,
        "last4": last4,
        "exp_month": exp_month,
        "exp_year": exp_year,
    }


def register_card(api: Api, *, member_id: int, **fields: Any) -> dict:
    resp = api.post(f"/v1/members/{member_id}/cards", api.publisher, card_body(**fields))
    assert resp.status_code == 201, resp.text
    return resp.json()


def card_event(
    *,
    card_id: int,
    amount: int = 4_000,
    kind: str = "auth",
    external_id: str = "ev-1",
    mid: str = "MID-BB-1",
    occurred_at: datetime | None = None,
    original_external_id: str | None = None,
) -> dict:
    return {
        "external_id": external_id,
        "kind": kind,
        "card_id": card_id,
        "amount": amount,
        "currency": "USD",
        "occurred_at": iso(occurred_at or datetime.now(UTC) - timedelta(minutes=5)),
        "mid": mid,
        "original_external_id": original_external_id,
    }


def push_events(api: Api, *events: dict) -> dict:
    """Push events through the signed network webhook; the per-event results."""
    raw = json.dumps({"events": list(events)}).encode()
    ts = int(time.time())
    resp = api.client.post(
        "/v1/feeds/network/events",
        content=raw,
        headers={
            **signed_headers("k1", FEED_KEYS["k1"], raw, now_unix=ts),
            "Content-Type": "application/json",
        },
    )
    assert resp.status_code == 200, resp.text
    return resp.json()
