"""The Stripe stand-in refuses what Stripe refuses, and answers what Stripe answers under
load, through the real SDK: a `send_invoice` customer without an email, a short platform
balance, an account without the `transfers` capability, an idempotency key still in flight,
and injected 429s (`rate_limit`, which the SDK leaves to the caller, and `lock_timeout`,
which it retries)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest
import stripe

from infra.standins.stripe_standin import StripeStandin


@pytest.fixture(scope="module")
def shared_standin() -> Iterator[StripeStandin]:
    with StripeStandin() as standin:
        yield standin


@pytest.fixture
def standin(shared_standin: StripeStandin) -> StripeStandin:
    shared_standin.reset()
    return shared_standin


def client_of(standin: StripeStandin, retries: int = 0) -> stripe.StripeClient:
    return standin.client(max_network_retries=retries)


def test_send_invoice_needs_the_customers_email(standin: StripeStandin) -> None:
    client = client_of(standin)
    nameless = client.v1.customers.create({"name": "Café Nord"})
    params: Any = {
        "customer": nameless.id,
        "collection_method": "send_invoice",
        "days_until_due": 14,
    }
    with pytest.raises(stripe.InvalidRequestError) as err:
        client.v1.invoices.create(params)
    assert err.value.http_status == 400
    assert err.value.param == "customer"
    assert "Missing email" in str(err.value.user_message)
    client.v1.customers.update(nameless.id, {"email": "billing@cafe-nord.example"})
    assert client.v1.invoices.create(params).status == "draft"


def test_transfers_draw_on_the_platform_balance(standin: StripeStandin) -> None:
    client = client_of(standin)
    account = client.v1.accounts.create({"type": "express", "country": "US"})
    standin.set_platform_balance("usd", 1_500)
    transfer: Any = {"amount": 1_000, "currency": "usd", "destination": account.id}
    client.v1.transfers.create(transfer)  # 1,500 - 1,000 = 500 left
    with pytest.raises(stripe.InvalidRequestError) as err:
        client.v1.transfers.create(transfer)  # 1,000 > 500
    assert err.value.code == "balance_insufficient"
    assert len(client.v1.transfers.list({"destination": account.id}).data) == 1
    standin.set_platform_balance("usd", 2_000)
    client.v1.transfers.create(transfer)


def test_a_destination_needs_the_transfers_capability(standin: StripeStandin) -> None:
    client = client_of(standin)
    account = client.v1.accounts.create({"type": "express", "country": "US"})
    standin.set_capability(account.id, "transfers", "inactive")
    with pytest.raises(stripe.InvalidRequestError) as err:
        client.v1.transfers.create({"amount": 800, "currency": "usd", "destination": account.id})
    assert (err.value.code, err.value.param) == (
        "insufficient_capabilities_for_transfer",
        "destination",
    )


def test_an_in_flight_key_is_a_409_and_the_sdks_retry_gets_the_first_result(
    standin: StripeStandin,
) -> None:
    standin.inject("POST /v1/customers", "slow", delay_seconds=0.8)
    first: list[Any] = []
    slow = threading.Thread(
        target=lambda: first.append(
            client_of(standin).v1.customers.create(
                {"email": "a@example.com"}, {"idempotency_key": "k-inflight"}
            )
        )
    )
    slow.start()
    while not standin.faults.fired:
        threading.Event().wait(0.01)
    with pytest.raises(stripe.APIError) as err:  # the SDK's class for a v1 409
        client_of(standin).v1.customers.create(
            {"email": "a@example.com"}, {"idempotency_key": "k-inflight"}
        )
    assert err.value.http_status == 409
    assert err.value.error is not None
    assert err.value.error.code == "idempotency_key_in_use"
    retried = client_of(standin, retries=3).v1.customers.create(
        {"email": "a@example.com"}, {"idempotency_key": "k-inflight"}
    )
    slow.join()
    assert retried.id == first[0].id
    assert len(standin.objects("customer")) == 1


def test_rate_limit_is_left_to_the_caller_and_lock_timeout_is_retried(
    standin: StripeStandin,
) -> None:
    client = client_of(standin, retries=2)
    standin.inject("POST /v1/customers", "rate_limit")
    with pytest.raises(stripe.RateLimitError) as err:
        client.v1.customers.create({"email": "a@example.com"}, {"idempotency_key": "k-rl"})
    assert err.value.error is not None
    assert err.value.error.code == "rate_limit"
    again = client.v1.customers.create({"email": "a@example.com"}, {"idempotency_key": "k-rl"})
    standin.inject("POST /v1/customers", "lock_timeout")
    same = client.v1.customers.create({"email": "a@example.com"}, {"idempotency_key": "k-rl"})
    assert same.id == again.id
    assert len(standin.objects("customer")) == 1
    assert [kind for _, kind in standin.faults.fired] == ["rate_limit", "lock_timeout"]


def test_a_balance_credit_is_applied_to_the_next_invoice(standin: StripeStandin) -> None:
    client = client_of(standin)
    customer = client.v1.customers.create({"email": "ap@cafe-nord.example"})
    credit: Any = {"amount": -300, "currency": "usd", "metadata": {"clo_key": "k-credit"}}
    txn = client.v1.customers.balance_transactions.create(customer.id, credit)
    assert (txn.amount, txn.ending_balance, txn.type) == (-300, -300, "adjustment")
    invoice = client.v1.invoices.create(
        {"customer": customer.id, "collection_method": "send_invoice", "days_until_due": 14}
    )
    client.v1.invoice_items.create(
        {"customer": customer.id, "invoice": invoice.id, "amount": 1_000, "currency": "usd"}
    )
    final = client.v1.invoices.finalize_invoice(invoice.id)
    # 1,000 billed, 300 of credit applied: 700 due, the credit used up
    assert (final.total, final.starting_balance, final.amount_due) == (1_000, -300, 700)
    assert final.ending_balance == 0
    assert client.v1.customers.retrieve(customer.id).balance == 0
    listed = client.v1.customers.balance_transactions.list(customer.id).data
    assert [(t.type, t.amount) for t in listed] == [
        ("applied_to_invoice", 300),
        ("adjustment", -300),
    ]
