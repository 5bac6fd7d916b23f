"""Linking cards through Stripe: the real SDK against the Stripe stand-in.

The browser's part (Stripe.js confirming the SetupIntent with the card form) is played by the
SDK confirming with a test PaymentMethod such as `pm_card_visa`; no card number is ever sent.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

import pytest
import stripe
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select
from sqlmodel import Session

from infra.standins.stripe_standin import StripeStandin, sign
from service.app import create_app
from service.auth import Role
from service.config import Settings
from service.linking_tables import StripeCustomer
from service.stripe_linking.service import handle_setup_intent_succeeded
from service.tables import Card
from tests.service.api_client import (
    FEED_KEYS,
    Api,
    assert_problem,
    bearer,
    create_member,
    issue_key,
)

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def shared_stripe() -> Iterator[StripeStandin]:
    with StripeStandin() as standin:
        yield standin


@pytest.fixture
def stripe_standin(shared_stripe: StripeStandin) -> StripeStandin:
    shared_stripe.reset()
    return shared_stripe


@contextmanager
def stripe_api(engine: Engine, standin: StripeStandin) -> Iterator[Api]:
    settings = Settings(
        environment="test",
        feed_signing_keys=FEED_KEYS,
        stripe_api_key=standin.api_key,
        stripe_api_base=standin.url,
    )
    with TestClient(create_app(engine=engine, settings=settings)) as client:
        yield Api(
            client=client,
            engine=engine,
            admin=bearer(issue_key(engine, role=Role.ADMIN)),
            publisher=bearer(issue_key(engine, role=Role.PUBLISHER)),
            finance=bearer(issue_key(engine, role=Role.FINANCE)),
        )


def sdk(standin: StripeStandin) -> stripe.StripeClient:
    url = standin.url
    return stripe.StripeClient(
        standin.api_key, base_addresses={"api": url, "files": url, "connect": url}
    )


def start(api: Api, member_id: int, headers: dict[str, str]) -> dict:
    resp = api.post(f"/v1/members/{member_id}/cards/setup-intents", headers)
    assert resp.status_code == 201, resp.text
    return resp.json()


def test_member_links_a_card_through_a_setup_intent(
    engine: Engine, stripe_standin: StripeStandin
) -> None:
    with stripe_api(engine, stripe_standin) as api:
        member, token = create_member(api)
        started = start(api, member["id"], token)
        assert started["client_secret"].startswith(started["setup_intent_id"] + "_secret_")
        assert started["status"] == "requires_payment_method"
        # The card form (Stripe.js) confirms with the card; here a test PaymentMethod.
        sdk(stripe_standin).v1.setup_intents.confirm(
            started["setup_intent_id"], {"payment_method": "pm_card_visa"}
        )
        resp = api.post(
            f"/v1/members/{member['id']}/cards/setup-intents/{started['setup_intent_id']}/confirm",
            token,
        )
        assert resp.status_code == 201, resp.text
        card = resp.json()
        assert (card["provider"], card["brand"], card["last4"]) == ("stripe", "visa", "4242")
        assert (card["exp_month"], card["exp_year"]) == (12, 2034)
        again = api.post(
            f"/v1/members/{member['id']}/cards/setup-intents/{started['setup_intent_id']}/confirm",
            token,
        )
        assert again.status_code == 200 and again.json()["id"] == card["id"]

        # A second intent reuses the stored customer: one customer per member.
        second = start(api, member["id"], api.publisher)
        assert second["setup_intent_id"] != started["setup_intent_id"]
        with Session(engine) as session:
            stored = session.get(StripeCustomer, member["id"])
            assert stored is not None
            customers = stripe_standin.objects("customer")
            assert [c["id"] for c in customers] == [stored.customer_ref]
            linked = session.get(Card, card["id"])
            assert linked is not None
            pm = sdk(stripe_standin).v1.payment_methods.retrieve(linked.provider_token)
            assert pm.card is not None
            assert linked.fingerprint == pm.card.fingerprint


def test_the_same_card_on_a_second_member_is_a_conflict(
    engine: Engine, stripe_standin: StripeStandin
) -> None:
    with stripe_api(engine, stripe_standin) as api:
        client = sdk(stripe_standin)
        for n, expected in ((1, 201), (2, 409)):
            member, token = create_member(api, display_name=f"m{n}")
            intent = start(api, member["id"], token)["setup_intent_id"]
            client.v1.setup_intents.confirm(intent, {"payment_method": "pm_card_visa"})
            resp = api.post(
                f"/v1/members/{member['id']}/cards/setup-intents/{intent}/confirm", token
            )
            if expected == 409:
                assert_problem(resp, 409, "fingerprint", "card_belongs_to_another_member")
            else:
                assert resp.status_code == 201, resp.text


def test_bad_setup_intents_are_refused(engine: Engine, stripe_standin: StripeStandin) -> None:
    with stripe_api(engine, stripe_standin) as api:
        client = sdk(stripe_standin)
        ada, ada_token = create_member(api, display_name="Ada")
        bob, bob_token = create_member(api, display_name="Bob")
        unconfirmed = start(api, ada["id"], ada_token)["setup_intent_id"]
        base = f"/v1/members/{ada['id']}/cards/setup-intents"
        assert_problem(
            api.post(f"{base}/{unconfirmed}/confirm", ada_token),
            409,
            "setup_intent_id",
            "setup_intent_not_succeeded",
        )
        # Declined card: the intent stays unconfirmed, nothing is stored.
        with pytest.raises(stripe.CardError):
            client.v1.setup_intents.confirm(
                unconfirmed, {"payment_method": "pm_card_chargeDeclined"}
            )
        assert api.post(f"{base}/{unconfirmed}/confirm", ada_token).status_code == 409
        # Another member's intent, an unknown one, a malformed id, another member's path.
        bobs = start(api, bob["id"], bob_token)["setup_intent_id"]
        client.v1.setup_intents.confirm(bobs, {"payment_method": "pm_card_amex"})
        assert_problem(
            api.post(f"{base}/{bobs}/confirm", ada_token), 404, "setup_intent_id", "not_found"
        )
        assert_problem(
            api.post(f"{base}/seti_doesnotexist/confirm", ada_token),
            404,
            "setup_intent_id",
            "not_found",
        )
        assert api.post(f"{base}/not-an-id/confirm", ada_token).status_code == 422
        assert api.post(base, bob_token).status_code == 404
        assert api.post(base, api.finance).status_code == 403
        with Session(engine) as session:
            assert session.scalar(select(func.count()).select_from(Card)) == 0


def test_setup_intent_succeeded_webhook_links_the_card_once(
    engine: Engine, stripe_standin: StripeStandin
) -> None:
    client = sdk(stripe_standin)
    with stripe_api(engine, stripe_standin) as api:
        member, token = create_member(api)
        other, other_token = create_member(api, display_name="Other")
        intent_id = start(api, member["id"], token)["setup_intent_id"]
        other_intent = start(api, other["id"], other_token)["setup_intent_id"]
    client.v1.setup_intents.confirm(intent_id, {"payment_method": "pm_card_mastercard"})
    client.v1.setup_intents.confirm(other_intent, {"payment_method": "pm_card_mastercard"})
    events = {e["data"]["object"]["id"]: e for e in stripe_standin.events("setup_intent.succeeded")}
    with engine.begin() as conn:
        result = handle_setup_intent_succeeded(conn, events[intent_id], NOW, client=client)
        assert result == "handled"
    with Session(engine) as session:
        assert session.scalar(select(func.count()).select_from(Card)) == 1  # committed with conn
        assert handle_setup_intent_succeeded(session, events[intent_id], NOW, client=client) == (
            "handled"
        )
        session.commit()
        assert (
            handle_setup_intent_succeeded(session, events[other_intent], NOW, client=client)
            == "conflict"
        )
        stranger = {**events[intent_id], "data": {"object": {"customer": "cus_unknown"}}}
        assert handle_setup_intent_succeeded(session, stranger, NOW, client=client) == "ignored"
        wrong_type = {**events[intent_id], "type": "setup_intent.created"}
        assert handle_setup_intent_succeeded(session, wrong_type, NOW, client=client) == "ignored"
        cards = list(session.scalars(select(Card)))
    assert [(c.member_id, c.brand, c.last4, c.provider) for c in cards] == [
        (member["id"], "mastercard", "4444", "stripe")
    ]


def test_the_signed_webhook_endpoint_links_the_card_and_ignores_a_redelivery(
    engine: Engine, stripe_standin: StripeStandin
) -> None:
    # The whole path: Stripe signs the event, /v1/webhooks/stripe verifies it, links the card
    # once, and answers a redelivery of the same event as a duplicate.
    secret = "whsec_linking_test"
    client = sdk(stripe_standin)
    settings = Settings(
        environment="test",
        feed_signing_keys=FEED_KEYS,
        stripe_api_key=stripe_standin.api_key,
        stripe_api_base=stripe_standin.url,
        stripe_webhook_secret=secret,
    )
    with TestClient(create_app(engine=engine, settings=settings)) as http:
        api = Api(
            client=http,
            engine=engine,
            admin=bearer(issue_key(engine, role=Role.ADMIN)),
            publisher=bearer(issue_key(engine, role=Role.PUBLISHER)),
            finance=bearer(issue_key(engine, role=Role.FINANCE)),
        )
        member, token = create_member(api)
        intent_id = start(api, member["id"], token)["setup_intent_id"]
        client.v1.setup_intents.confirm(intent_id, {"payment_method": "pm_card_visa"})
        [event] = [
            e
            for e in stripe_standin.events("setup_intent.succeeded")
            if e["data"]["object"]["id"] == intent_id
        ]
        raw = json.dumps(event).encode()
        headers = {"Stripe-Signature": sign(raw, secret, int(time.time()))}
        first = http.post("/v1/webhooks/stripe", content=raw, headers=headers)
        again = http.post("/v1/webhooks/stripe", content=raw, headers=headers)
        forged = http.post(
            "/v1/webhooks/stripe",
            content=raw,
            headers={"Stripe-Signature": sign(raw, "whsec_wrong", int(time.time()))},
        )
    assert (first.status_code, first.json()["result"]) == (200, "handled")
    assert (again.status_code, again.json()["result"]) == (200, "duplicate")
    assert forged.status_code == 401
    with Session(engine) as session:
        cards = list(session.scalars(select(Card)))
    assert [(c.member_id, c.brand, c.last4, c.provider) for c in cards] == [
        (member["id"], "visa", "4242", "stripe")
    ]
