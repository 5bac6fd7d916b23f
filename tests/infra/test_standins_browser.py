"""What the stand-ins offer a browser: Stripe.js and Plaid Link scripts, the publishable
key's narrow rights, CORS, and Link finishing a session (new Item or update mode)."""

from __future__ import annotations

import httpx
import pytest

from infra.standins.plaid_standin import PlaidStandin
from infra.standins.stripe_standin import StripeStandin


@pytest.fixture(scope="module")
def stripe_standin():
    with StripeStandin() as standin:
        yield standin


def test_the_publishable_key_confirms_only_its_setup_intent(stripe_standin) -> None:
    client = stripe_standin.client()
    customer = client.v1.customers.create({})
    seti = client.v1.setup_intents.create({"customer": customer.id})
    pk = {"Authorization": f"Bearer {stripe_standin.publishable_key}", "Origin": "http://x"}
    with httpx.Client(base_url=stripe_standin.url, headers=pk) as browser:
        script = browser.get("/v3/")
        assert script.status_code == 200 and "confirmCardSetup" in script.text
        assert browser.get("/v1/customers").status_code == 403  # secret key only
        pm = browser.post("/v1/payment_methods", data={"type": "card", "card[token]": "tok_visa"})
        assert pm.headers["access-control-allow-origin"] == "*"
        pm_id = pm.json()["id"]
        wrong = browser.post(
            f"/v1/setup_intents/{seti.id}/confirm",
            data={"client_secret": "seti_x_secret_y", "payment_method": pm_id},
        )
        assert wrong.status_code == 400
        assert wrong.json()["error"]["code"] == "setup_intent_authentication_failure"
        done = browser.post(
            f"/v1/setup_intents/{seti.id}/confirm",
            data={"client_secret": seti.client_secret, "payment_method": pm_id},
        )
        assert done.json()["status"] == "succeeded"
        assert browser.options("/v1/payment_methods").status_code == 204


def test_link_finishes_a_session_and_repairs_a_login_in_update_mode() -> None:
    with PlaidStandin(strict=True) as standin, httpx.Client(base_url=standin.url) as browser:
        api = standin.client_id, standin.secret
        keys = {"client_id": api[0], "secret": api[1]}
        assert "Plaid" in browser.get("/link/v2/stable/link-initialize.js").text
        base = {"client_name": "CLO", "language": "en", "country_codes": ["US"]}
        token = browser.post(
            "/link/token/create",
            json={**keys, **base, "user": {"client_user_id": "m1"}, "products": ["transactions"]},
        ).json()["link_token"]
        done = browser.post(
            "/link/standin/complete", json={"link_token": token, "institution_id": "ins_109508"}
        ).json()
        exchanged = browser.post(
            "/item/public_token/exchange", json={**keys, "public_token": done["public_token"]}
        ).json()
        access = exchanged["access_token"]
        browser.post("/sandbox/item/reset_login", json={**keys, "access_token": access})
        assert browser.post("/item/get", json={**keys, "access_token": access}).json()["item"][
            "error"
        ]
        update = browser.post(
            "/link/token/create",
            json={**keys, **base, "user": {"client_user_id": "m1"}, "access_token": access},
        ).json()["link_token"]
        repaired = browser.post("/link/standin/complete", json={"link_token": update}).json()
        assert repaired["update_mode"] is True
        item = browser.post("/item/get", json={**keys, "access_token": access}).json()["item"]
        assert item["error"] is None
        unknown = browser.post("/link/standin/complete", json={"link_token": "nope"})
        assert unknown.status_code == 400
