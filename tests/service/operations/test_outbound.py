"""Calls to Stripe and Plaid are timed and counted by provider and endpoint, ids replaced."""

from __future__ import annotations

import plaid
import pytest
import stripe
from plaid.model.item_get_request import ItemGetRequest
from prometheus_client import REGISTRY

from infra.standins.plaid_standin import PlaidStandin
from infra.standins.stripe_standin import StripeStandin
from service.config import Settings
from service.integrations.stripe_billing import stripe_client
from service.observability.outbound import stripe_endpoint
from service.plaid.client import plaid_client


def calls(provider: str, endpoint: str) -> float:
    labels = {"provider": provider, "endpoint": endpoint}
    return REGISTRY.get_sample_value("clo_outbound_request_duration_seconds_count", labels) or 0


def errors(provider: str, endpoint: str) -> float:
    labels = {"provider": provider, "endpoint": endpoint}
    return REGISTRY.get_sample_value("clo_outbound_request_errors_total", labels) or 0


def test_stripe_endpoints_name_no_object() -> None:
    assert (
        stripe_endpoint("http://x/v1/invoices/in_1PqR2s/finalize") == "/v1/invoices/{id}/finalize"
    )
    assert stripe_endpoint("http://x/v1/customers/cus_NffrFeUfNV2Hib") == "/v1/customers/{id}"
    assert stripe_endpoint("http://x/v1/payment_methods?limit=3") == "/v1/payment_methods"


def test_stripe_calls_are_counted_with_their_errors() -> None:
    with StripeStandin() as standin:
        settings = Settings(
            environment="test", stripe_api_key=standin.api_key, stripe_api_base=standin.url
        )
        client = stripe_client(settings)
        before = calls("stripe", "/v1/customers"), calls("stripe", "/v1/customers/{id}")
        missing = errors("stripe", "/v1/customers/{id}")
        created = client.v1.customers.create({"email": "ap@example.com"})
        client.v1.customers.retrieve(created.id)
        with pytest.raises(stripe.InvalidRequestError):
            client.v1.customers.retrieve("cus_NoSuch0000")
    assert calls("stripe", "/v1/customers") == before[0] + 1
    assert calls("stripe", "/v1/customers/{id}") == before[1] + 2
    assert errors("stripe", "/v1/customers/{id}") == missing + 1


def test_plaid_calls_are_counted_with_their_errors(shared_plaid: PlaidStandin) -> None:
    settings = Settings(
        environment="test",
        plaid_client_id=shared_plaid.client_id,
        plaid_secret=shared_plaid.secret,
        plaid_host=shared_plaid.url,
    )
    api = plaid_client(settings)
    before, failed = calls("plaid", "/item/get"), errors("plaid", "/item/get")
    with pytest.raises(plaid.ApiException):
        api.item_get(ItemGetRequest(access_token="access-sandbox-nothing"))
    assert calls("plaid", "/item/get") == before + 1
    assert errors("plaid", "/item/get") == failed + 1
