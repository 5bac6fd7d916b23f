"""A two-tenant world for the attack suite: two publishers, two merchants, their members,
cards, events, offers and aliases, and a key per role, so every route can be tried by its
owner and by a stranger."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from fastapi.routing import APIRoute
from sqlalchemy import Connection, Insert, insert, select
from sqlmodel import col

from service.auth import Role
from service.claims.tables import Claim
from service.linking_tables import UnresolvedMerchant
from settlement.runs.tables import SettlementRun
from settlement.tables import LedgerAccount
from tests.service.api_client import (
    Api,
    Headers,
    bearer,
    card_body,
    card_event,
    create_location,
    create_member,
    create_merchant,
    create_offer,
    offer_body,
    push_events,
)

_fresh = itertools.count(1)


@dataclass
class World:
    api: Api
    keys: dict[str, Headers | None]  # caller name -> headers (anonymous: None)
    ids: dict[str, Any]  # path parameter -> the victim side's object
    throwaway_key_id: str
    extra: dict[str, Any] = field(default_factory=dict)


# Who owns the victim side's objects (member A of publisher 1, merchant 1): everyone else who
# may call the route at all is a stranger to them and must get a 404.
OWNERS = {
    "member_id": {"admin", "finance", "publisher_1", "member_a"},
    "merchant_id": {"admin", "finance", "merchant_1"},
    "offer_id": {"admin", "finance", "merchant_1"},
    "event_id": {"admin", "finance", "publisher_1", "member_a", "merchant_1"},
    "endpoint_id": {"admin", "publisher_1"},
    "claim_id": {"admin", "publisher_1", "member_a", "merchant_1"},
}
CALLERS = (
    "anonymous",
    "publisher_2",
    "merchant_2",
    "member_b",
    "publisher_1",
    "merchant_1",
    "member_a",
    "finance",
    "admin",
)
ROLE_OF = {
    "publisher_1": Role.PUBLISHER,
    "publisher_2": Role.PUBLISHER,
    "merchant_1": Role.MERCHANT,
    "merchant_2": Role.MERCHANT,
    "member_a": Role.MEMBER,
    "member_b": Role.MEMBER,
    "finance": Role.FINANCE,
    "admin": Role.ADMIN,
}


def build_world(api: Api) -> World:
    m1 = create_merchant(api, brand_name="Blue Bottle")
    m2 = create_merchant(api, brand_name="Red Kettle")
    loc1 = create_location(api, merchant_id=m1["id"], mid="MID-BB-1")
    create_location(api, merchant_id=m2["id"], mid="MID-RK-1")
    offer1 = create_offer(api, merchant_id=m1["id"], publish=True)
    create_offer(api, merchant_id=m2["id"], publish=True)
    alias1 = api.post(f"/v1/merchants/{m1['id']}/aliases", api.admin, {"alias": "BB Cafe"}).json()
    publisher_1 = api.publisher
    publisher_2 = api.key(Role.PUBLISHER)
    member_a, member_a_token = create_member(api, display_name="A")
    resp = api.post("/v1/members", publisher_2, {"display_name": "B"})
    member_b_token = bearer(resp.json()["token"])
    member_b = resp.json()["member"]
    card_a = api.post(f"/v1/members/{member_a['id']}/cards", publisher_1, card_body()).json()
    api.post(
        f"/v1/members/{member_b['id']}/cards",
        publisher_2,
        card_body(provider_token="tok_b", fingerprint="fp_b"),
    )
    event = push_events(api, card_event(card_id=card_a["id"], external_id="ev-a"))["results"][0]
    charity = api.post("/v1/charities", api.admin, {"name": "Food Bank"}).json()
    endpoint = api.post("/v1/webhook-endpoints", publisher_1, webhook_endpoint_body()).json()
    now = datetime.now(UTC)
    with api.engine.begin() as conn:
        unresolved_id = _inserted_id(
            conn,
            insert(UnresolvedMerchant.__table__).values(
                kind="name",
                value="bb cafe",
                event_count=1,
                first_seen_at=now,
                last_seen_at=now,
                status="open",
            ),
        )
    with api.engine.begin() as conn:
        run_id = _inserted_id(
            conn,
            insert(SettlementRun.__table__).values(
                kind="weekly",
                period="2026-W46",
                period_start=now,
                period_end=now,
                status="awaiting_approval",
                total_amount=0,
                created_at=now,
                updated_at=now,
            ),
        )
        # member A's missing-cashback claim at merchant 1
        claim_id = _inserted_id(
            conn,
            insert(Claim.__table__).values(
                member_id=member_a["id"],
                merchant_id=m1["id"],
                card_id=card_a["id"],
                purchase_date=now.date(),
                spend_amount=4_000,
                currency="USD",
                idempotency_key="world-claim",
                status="submitted",
                created_at=now,
            ),
        )
        # member A's pending cashback account (the event above opened it)
        account_id = conn.execute(
            select(col(LedgerAccount.id)).where(
                col(LedgerAccount.code) == f"member:{member_a['id']}:pending:USD"
            )
        ).scalar_one()
    throwaway = api.key(Role.FINANCE)["Authorization"].removeprefix("Bearer ").partition(".")[0]
    keys: dict[str, Headers | None] = {
        "anonymous": None,
        "admin": api.admin,
        "finance": api.finance,
        "publisher_1": publisher_1,
        "publisher_2": publisher_2,
        "merchant_1": api.key(Role.MERCHANT, merchant_id=m1["id"]),
        "merchant_2": api.key(Role.MERCHANT, merchant_id=m2["id"]),
        "member_a": member_a_token,
        "member_b": member_b_token,
    }
    ids = {
        "member_id": member_a["id"],
        "merchant_id": m1["id"],
        "offer_id": offer1["id"],
        "event_id": event["event_id"],
        "card_id": card_a["id"],
        "location_id": loc1["id"],
        "alias_id": alias1["id"],
        "run_id": run_id,
        "account_id": account_id,
        "unresolved_id": unresolved_id,
        "setup_intent_id": "seti_123",
        "key_id": throwaway,
        "endpoint_id": endpoint["id"],
        "claim_id": claim_id,
    }
    return World(api, keys, ids, throwaway, extra={"charity_id": charity["id"]})


def webhook_endpoint_body() -> dict[str, Any]:
    # A public address literal: the URL rules refuse inner ones, and no DNS is needed.
    return {"url": "https://93.184.215.14/hooks", "event_types": ["*"]}


def sample_body(method: str, path: str, world: World) -> Any:
    """A valid body for each operation that takes one (fresh unique values each call)."""
    n = next(_fresh)
    bodies = {
        ("POST", "/v1/merchants"): {"brand_name": f"M{n}", "timezone": "UTC", "currency": "USD"},
        ("PATCH", "/v1/merchants/{merchant_id}"): {"brand_name": f"Renamed {n}"},
        ("POST", "/v1/merchants/{merchant_id}/locations"): {"name": "L", "mid": f"MID-N-{n}"},
        ("PATCH", "/v1/merchants/{merchant_id}/locations/{location_id}"): {"name": f"L{n}"},
        ("POST", "/v1/merchants/{merchant_id}/aliases"): {"alias": f"alias {n}"},
        ("POST", "/v1/merchants/{merchant_id}/offers"): offer_body(title=f"O{n}"),
        ("PATCH", "/v1/offers/{offer_id}"): {"title": f"Offer {n}"},
        ("POST", "/v1/members"): {"display_name": f"N{n}"},
        ("POST", "/v1/members/{member_id}/activations"): {"offer_id": world.ids["offer_id"]},
        ("POST", "/v1/members/{member_id}/cards"): card_body(
            provider_token=f"tok_n{n}", fingerprint=f"fp_n{n}"
        ),
        ("POST", "/v1/settlements/runs/{run_id}/approve"): {"reason": "ok"},
        ("POST", "/v1/settlements/runs/{run_id}/reject"): {"reason": "no"},
        ("PUT", "/v1/members/{member_id}/payout-account"): {"stripe_account_id": f"acct_n{n}"},
        ("POST", "/v1/members/{member_id}/donations"): {
            "charity_id": world.extra["charity_id"],
            "amount": 1,
            "currency": "USD",
        },
        ("POST", "/v1/charities"): {"name": f"C{n}"},
        ("POST", "/v1/members/{member_id}/plaid/exchange"): {"public_token": "public-x"},
        ("POST", "/v1/publishers/api-keys"): {"name": f"P{n}"},
        ("POST", "/v1/webhook-endpoints"): webhook_endpoint_body(),
        ("PATCH", "/v1/webhook-endpoints/{endpoint_id}"): {"description": f"D{n}"},
        ("POST", "/v1/webhook-endpoints/{endpoint_id}/replay"): {
            "since_event_id": "evt_000000000001"
        },
        ("POST", "/v1/members/{member_id}/notifications/read"): {"notification_ids": []},
        ("PUT", "/v1/members/{member_id}/notification-preferences"): {"timezone": "Europe/Oslo"},
        ("POST", "/v1/members/{member_id}/push-subscriptions"): {
            "endpoint": f"https://push.example/send/{n}",
            "keys": {"p256dh": "B" * 87, "auth": "a" * 22},
        },
        ("POST", "/v1/members/{member_id}/claims"): {
            "merchant_id": world.ids["merchant_id"],
            "purchase_date": datetime.now(UTC).date().isoformat(),
            "amount": 1_000 + n,
            "currency": "USD",
            "card_last4": "4242",
        },
        ("POST", "/v1/claims/{claim_id}/decision"): {"decision": "accept"},
    }
    return bodies.get((method, path))


def _inserted_id(conn: Connection, statement: Insert) -> int:
    key = conn.execute(statement).inserted_primary_key
    assert key is not None
    new_id: int = key[0]
    return new_id


def allowed_roles(route: APIRoute) -> frozenset[Role] | None:
    """The roles the route's `require(...)` admits (None: no role check)."""
    stack = [route.dependant]
    while stack:
        dep = stack.pop()
        roles = getattr(dep.call, "allowed_roles", None)
        if roles is not None:
            return frozenset(roles)
        stack.extend(dep.dependencies)
    return None
