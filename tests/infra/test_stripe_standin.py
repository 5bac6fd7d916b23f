"""The Stripe stand-in, driven through the real `stripe` SDK (nothing patched or mocked).

The SDK is pointed at the stand-in the way the application does it:
`stripe.StripeClient(key, base_addresses={"api": url, "files": url, "connect": url})`, or
module-level `stripe.api_base = url`. Webhooks go to a small local HTTP receiver and are
verified with `stripe.Webhook.construct_event`. Object shapes are checked against the
top-level keys of Stripe's own fixtures (`../shared/specs/stripe-fixtures3.json`).
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, TypeVar

import pytest
import stripe

from infra.standins.stripe_standin import StripeStandin, sign
from infra.standins.stripe_standin.forms import parse_form

REPO_ROOT = Path(__file__).resolve().parents[2]
FIXTURES_ENV = "CLO_STRIPE_FIXTURES"
SIGNATURE = re.compile(r"^t=\d+,v1=[0-9a-f]{64}$")
T = TypeVar("T")


def _id_of(value: str | stripe.PaymentMethod | None) -> str | None:
    """An expandable field's id (the stand-in returns ids unless asked to expand)."""
    return value if value is None or isinstance(value, str) else value.id


def error_body(error: stripe.StripeError) -> dict[str, Any]:
    body = error.json_body
    assert isinstance(body, dict)
    return body


def present(value: T | None) -> T:
    """A field the SDK types as optional, which the stand-in must have filled in."""
    assert value is not None
    return value


# ---- helpers ------------------------------------------------------------------------------


def make_client(standin: StripeStandin, api_key: str | None = None) -> stripe.StripeClient:
    url = standin.url
    return stripe.StripeClient(
        api_key or standin.api_key,
        base_addresses={"api": url, "files": url, "connect": url},
    )


def http(
    method: str, url: str, body: bytes | None = None, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(url, data=body, method=method, headers=headers or {})  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()


def control(standin: StripeStandin, method: str, path: str, payload: Any = None) -> Any:
    body = json.dumps(payload).encode() if payload is not None else None
    status, _, raw = http(
        method, f"{standin.url}/_standin/{path}", body, {"Content-Type": "application/json"}
    )
    assert status == 200, raw
    return json.loads(raw)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Receiver:
    """A webhook endpoint: records every request; answers `statuses` in order, then 200."""

    def __init__(self, statuses: tuple[int, ...] = ()) -> None:
        self.received: list[tuple[bytes, dict[str, str]]] = []
        self.statuses = list(statuses)
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                with receiver.lock:
                    receiver.received.append((body, dict(self.headers)))
                    status = receiver.statuses.pop(0) if receiver.statuses else 200
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/stripe/webhooks"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def shared_standin() -> Iterator[StripeStandin]:
    with StripeStandin(webhook_retry_delays=(0.05, 0.1)) as standin:
        yield standin


@pytest.fixture
def standin(shared_standin: StripeStandin) -> StripeStandin:
    shared_standin.set_webhook_endpoints([])
    shared_standin.reset()
    return shared_standin


@pytest.fixture
def client(standin: StripeStandin) -> stripe.StripeClient:
    return make_client(standin)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    found = Receiver()
    yield found
    found.close()


def event_types(client: stripe.StripeClient) -> list[str]:
    return [e.type for e in client.v1.events.list({"limit": 100}).auto_paging_iter()]


# ---- wire format --------------------------------------------------------------------------


def test_form_bodies_parse_into_nested_dicts_and_lists() -> None:
    body = (
        "metadata[run]=2024-05&metadata%5Bmerchant%5D=m%207&items[0][price]=p1&items[1][price]=p2"
        "&expand[]=customer&expand[]=lines&card[token]=tok_visa&description="
    )
    assert parse_form(body) == {
        "metadata": {"run": "2024-05", "merchant": "m 7"},
        "items": [{"price": "p1"}, {"price": "p2"}],
        "expand": ["customer", "lines"],
        "card": {"token": "tok_visa"},
        "description": "",
    }
    assert parse_form("expand[0]=a&expand[1]=b") == {"expand": ["a", "b"]}


def test_missing_or_unknown_api_keys_get_stripes_401(standin: StripeStandin) -> None:
    status, _, raw = http("GET", f"{standin.url}/v1/customers")
    assert status == 401
    error = json.loads(raw)["error"]
    assert error["type"] == "invalid_request_error"
    assert "did not provide an API key" in error["message"]

    status, _, raw = http("GET", f"{standin.url}/v1/customers", None, {"Authorization": "Bearer x"})
    assert status == 401
    assert json.loads(raw)["error"]["message"].startswith("Invalid API Key provided")

    with pytest.raises(stripe.AuthenticationError):
        make_client(standin, "sk_live_not_a_test_key").v1.customers.list()

    with StripeStandin(api_keys=["sk_test_only_this_one"]) as strict:
        assert make_client(strict).v1.customers.list().data == []
        with pytest.raises(stripe.AuthenticationError) as err:
            make_client(strict, "sk_test_another_key").v1.customers.list()
        assert err.value.http_status == 401

    status, _, raw = http(
        "GET",
        f"{standin.url}/v1/nothing_here",
        None,
        {"Authorization": f"Bearer {standin.api_key}"},
    )
    assert status == 404
    assert "Unrecognized request URL" in json.loads(raw)["error"]["message"]


def test_parameter_errors_follow_stripes_shape(client: stripe.StripeClient) -> None:
    with pytest.raises(stripe.InvalidRequestError) as err:
        client.v1.invoice_items.create({"amount": 100, "currency": "usd"})
    assert (err.value.http_status, err.value.code, err.value.param) == (
        400,
        "parameter_missing",
        "customer",
    )
    with pytest.raises(stripe.InvalidRequestError) as err:
        client.v1.customers.create({"emial": "typo@example.com"})  # type: ignore[arg-type]
    assert (err.value.code, err.value.param) == ("parameter_unknown", "emial")
    with pytest.raises(stripe.InvalidRequestError) as err:
        client.v1.invoices.retrieve("in_doesnotexist")
    assert (err.value.http_status, err.value.code, err.value.param) == (
        404,
        "resource_missing",
        "id",
    )
    assert error_body(err.value)["error"]["message"] == "No such invoice: 'in_doesnotexist'"


# ---- customers ----------------------------------------------------------------------------


def test_customers_create_retrieve_update_list_and_search(client: stripe.StripeClient) -> None:
    alice = client.v1.customers.create(
        {"email": "alice@example.com", "name": "Alice", "metadata": {"member_id": "m1"}}
    )
    bob = client.v1.customers.create({"email": "bob@example.com", "metadata": {"member_id": "m2"}})
    alice_again = client.v1.customers.create({"email": "alice@example.com"})

    assert alice.id.startswith("cus_") and alice.object == "customer"
    assert alice.livemode is False and isinstance(alice.created, int)
    fetched = client.v1.customers.retrieve(alice.id)
    assert (fetched.email, fetched.name, present(fetched.metadata).to_dict()) == (
        "alice@example.com",
        "Alice",
        {"member_id": "m1"},
    )

    updated = client.v1.customers.update(
        alice.id, {"name": "Alice B", "metadata": {"tier": "gold", "member_id": ""}}
    )
    assert updated.name == "Alice B"
    assert present(updated.metadata).to_dict() == {"tier": "gold"}

    by_email = client.v1.customers.list({"email": "alice@example.com"})
    assert by_email.to_dict()["object"] == "list" and by_email.url == "/v1/customers"
    assert [c.id for c in by_email.data] == [alice_again.id, alice.id]  # newest first

    first_page = client.v1.customers.list({"limit": 2})
    assert first_page.has_more is True and len(first_page.data) == 2
    rest = client.v1.customers.list({"limit": 2, "starting_after": first_page.data[-1].id})
    assert [c.id for c in rest.data] == [alice.id] and rest.has_more is False
    every = [c.id for c in client.v1.customers.list({"limit": 1}).auto_paging_iter()]
    assert every == [alice_again.id, bob.id, alice.id]

    found = client.v1.customers.search({"query": "metadata['member_id']:'m2'"})
    assert found.to_dict()["object"] == "search_result" and [c.id for c in found.data] == [bob.id]
    both = client.v1.customers.search({"query": "email:'alice@example.com' AND name:'Alice B'"})
    assert [c.id for c in both.data] == [alice.id]


def test_module_level_api_base_works_too(standin: StripeStandin) -> None:
    saved = (stripe.api_key, stripe.api_base)
    try:
        stripe.api_key = standin.api_key
        stripe.api_base = standin.url
        created = stripe.Customer.create(email="module@example.com")
        assert stripe.Customer.retrieve(created.id).email == "module@example.com"
    finally:
        stripe.api_key, stripe.api_base = saved


# ---- invoices -----------------------------------------------------------------------------


def test_invoice_includes_pending_items_then_finalize_send_pay(
    client: stripe.StripeClient, standin: StripeStandin
) -> None:
    merchant = client.v1.customers.create({"email": "billing@merchant.example"})
    other = client.v1.customers.create({"email": "other@merchant.example"})
    item_a = client.v1.invoice_items.create(
        {"customer": merchant.id, "amount": 1250, "currency": "usd", "description": "Offer A"}
    )
    item_b = client.v1.invoice_items.create(
        {
            "customer": merchant.id,
            "amount": 750,
            "currency": "usd",
            "description": "Offer B",
            "metadata": {"offer_id": "b"},
        }
    )
    client.v1.invoice_items.create({"customer": other.id, "amount": 999, "currency": "usd"})
    assert item_a.id.startswith("ii_") and item_a.invoice is None

    invoice = client.v1.invoices.create(
        {
            "customer": merchant.id,
            "pending_invoice_items_behavior": "include",
            "collection_method": "send_invoice",
            "days_until_due": 14,
            "auto_advance": False,
            "metadata": {"settlement_run": "2024-05"},
        }
    )
    assert invoice.id.startswith("in_") and invoice.status == "draft"
    assert (invoice.subtotal, invoice.total, invoice.amount_due) == (2000, 2000, 2000)
    assert (invoice.amount_paid, invoice.amount_remaining) == (0, 2000)
    assert invoice.lines.to_dict()["object"] == "list"
    assert [line.amount for line in invoice.lines.data] == [1250, 750]
    line_items = {
        present(present(line.parent).invoice_item_details).invoice_item
        for line in invoice.lines.data
    }
    assert line_items == {item_a.id, item_b.id}
    assert invoice.lines.data[1].metadata.to_dict() == {"offer_id": "b"}
    assert client.v1.invoice_items.retrieve(item_a.id).invoice == invoice.id
    on_invoice = client.v1.invoice_items.list({"invoice": invoice.id})
    assert {i.id for i in on_invoice.data} == {item_a.id, item_b.id}
    assert client.v1.invoice_items.list({"customer": merchant.id, "pending": True}).data == []

    invoice = client.v1.invoices.finalize_invoice(invoice.id)
    customer = client.v1.customers.retrieve(merchant.id)
    assert invoice.status == "open" and invoice.number == f"{customer.invoice_prefix}-0001"
    assert invoice.status_transitions.finalized_at is not None
    hosted_url = present(invoice.hosted_invoice_url)
    assert hosted_url.startswith(standin.url)
    status, _, page = http("GET", hosted_url)
    assert status == 200 and invoice.number.encode() in page
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.invoice_items.create(
            {"customer": merchant.id, "amount": 1, "currency": "usd", "invoice": invoice.id}
        )
    with pytest.raises(stripe.InvalidRequestError, match="already finalized"):
        client.v1.invoices.finalize_invoice(invoice.id)

    invoice = client.v1.invoices.send_invoice(invoice.id)
    assert invoice.status == "open"
    invoice = client.v1.invoices.pay(invoice.id, {"paid_out_of_band": True})
    assert invoice.status == "paid"
    assert (invoice.amount_due, invoice.amount_paid, invoice.amount_remaining) == (2000, 2000, 0)
    assert invoice.status_transitions.paid_at is not None
    with pytest.raises(stripe.InvalidRequestError, match="already paid"):
        client.v1.invoices.pay(invoice.id, {"paid_out_of_band": True})

    listed = client.v1.invoices.list({"customer": merchant.id})
    assert [i.id for i in listed.data] == [invoice.id]
    assert {"invoice.created", "invoice.finalized", "invoice.sent", "invoice.paid"} <= set(
        event_types(client)
    )


def test_invoice_excludes_pending_items_by_default_and_charges_cards(
    client: stripe.StripeClient,
) -> None:
    merchant = client.v1.customers.create({"email": "m@merchant.example"})
    pending = client.v1.invoice_items.create(
        {"customer": merchant.id, "amount": 500, "currency": "usd"}
    )
    invoice = client.v1.invoices.create({"customer": merchant.id})
    assert invoice.amount_due == 0 and invoice.lines.data == []
    client.v1.invoice_items.create(
        {"customer": merchant.id, "amount": 900, "currency": "usd", "invoice": invoice.id}
    )
    invoice = client.v1.invoices.retrieve(invoice.id)
    assert (
        invoice.amount_due == 900 and client.v1.invoice_items.retrieve(pending.id).invoice is None
    )

    with pytest.raises(stripe.InvalidRequestError, match="send_invoice"):
        client.v1.invoices.send_invoice(invoice.id)
    invoice = client.v1.invoices.finalize_invoice(invoice.id)
    with pytest.raises(stripe.CardError) as no_card:
        client.v1.invoices.pay(invoice.id)
    assert no_card.value.code == "missing"

    setup = client.v1.setup_intents.create({"customer": merchant.id, "confirm": True,
                                            "payment_method": "pm_card_visa"})  # fmt: skip
    client.v1.customers.update(
        merchant.id,
        {"invoice_settings": {"default_payment_method": present(_id_of(setup.payment_method))}},
    )
    invoice = client.v1.invoices.pay(invoice.id)
    assert invoice.status == "paid" and invoice.attempt_count == 1 and invoice.amount_paid == 900

    declined = client.v1.invoices.create(
        {"customer": merchant.id, "pending_invoice_items_behavior": "include"}
    )
    assert declined.amount_due == 500
    with pytest.raises(stripe.CardError) as err:
        client.v1.invoices.pay(declined.id, {"payment_method": "pm_card_chargeDeclined"})
    assert err.value.code == "card_declined"
    declined = client.v1.invoices.retrieve(declined.id)
    assert (declined.status, declined.attempt_count, declined.amount_paid) == ("open", 1, 0)
    voided = client.v1.invoices.void_invoice(declined.id)
    assert voided.status == "void" and voided.status_transitions.voided_at is not None
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.invoices.void_invoice(declined.id)

    empty = client.v1.invoices.finalize_invoice(
        client.v1.invoices.create({"customer": merchant.id}).id
    )
    assert empty.status == "paid"  # nothing due: paid on finalization, as on Stripe
    types = event_types(client)
    assert {"invoice.payment_succeeded", "invoice.payment_failed", "invoice.voided"} <= set(types)


# ---- idempotency --------------------------------------------------------------------------


def test_same_idempotency_key_replays_and_creates_nothing(
    client: stripe.StripeClient, standin: StripeStandin
) -> None:
    merchant = client.v1.customers.create({"email": "m@merchant.example"})
    params: Any = {
        "customer": merchant.id,
        "amount": 4200,
        "currency": "usd",
        "metadata": {"settlement_key": "2024-05:m7"},
    }
    key = "settlement-2024-05:merchant-7:item"
    first = client.v1.invoice_items.create(params, {"idempotency_key": key})
    created = standin.counters()["created"]["invoiceitem"]
    second = client.v1.invoice_items.create(params, {"idempotency_key": key})

    assert second.id == first.id and second.to_dict() == first.to_dict()
    assert present(second.last_response).headers.get("Idempotent-Replayed") == "true"
    assert present(first.last_response).headers.get("Idempotent-Replayed") is None
    assert standin.counters()["created"]["invoiceitem"] == created
    assert standin.counters()["idempotent_replays"] == 1
    assert len(client.v1.invoice_items.list({"customer": merchant.id}).data) == 1
    assert event_types(client).count("invoiceitem.created") == 1

    # keys are scoped per API key: another key's namespace executes afresh
    other = make_client(standin, "sk_test_another_platform_key")
    assert other.v1.invoice_items.create(params, {"idempotency_key": key}).id != first.id


def test_same_idempotency_key_with_other_parameters_is_an_idempotency_error(
    client: stripe.StripeClient,
) -> None:
    client.v1.customers.create({"email": "a@example.com"}, {"idempotency_key": "signup-1"})
    with pytest.raises(stripe.IdempotencyError) as err:
        client.v1.customers.create({"email": "b@example.com"}, {"idempotency_key": "signup-1"})
    assert err.value.http_status == 400
    assert "same parameters they were first used with" in err.value.user_message
    assert error_body(err.value)["error"]["type"] == "idempotency_error"
    with pytest.raises(stripe.IdempotencyError):
        client.v1.setup_intents.create({}, {"idempotency_key": "signup-1"})
    assert len(client.v1.customers.list().data) == 1


def test_a_rejected_request_is_not_stored_so_a_corrected_retry_runs(
    client: stripe.StripeClient,
) -> None:
    merchant = client.v1.customers.create({"email": "m@merchant.example"})
    with pytest.raises(stripe.InvalidRequestError) as err:
        client.v1.invoice_items.create(
            {"customer": merchant.id, "currency": "usd"}, {"idempotency_key": "item-1"}
        )
    assert err.value.code == "parameter_missing" and err.value.param == "amount"
    item = client.v1.invoice_items.create(
        {"customer": merchant.id, "currency": "usd", "amount": 10}, {"idempotency_key": "item-1"}
    )
    assert item.amount == 10


def bill_merchant_once(client: stripe.StripeClient, customer_id: str, run_key: str) -> Any:
    """How a caller survives key expiry: find its earlier invoice by metadata before creating."""
    found = client.v1.invoices.search({"query": f"metadata['settlement_key']:'{run_key}'"})
    if found.data:
        return found.data[0]
    client.v1.invoice_items.create(
        {
            "customer": customer_id,
            "amount": 2500,
            "currency": "usd",
            "metadata": {"settlement_key": run_key},
        },
        {"idempotency_key": f"{run_key}:item"},
    )
    return client.v1.invoices.create(
        {
            "customer": customer_id,
            "pending_invoice_items_behavior": "include",
            "metadata": {"settlement_key": run_key},
        },
        {"idempotency_key": f"{run_key}:invoice"},
    )


def test_after_idempotency_keys_expire_the_caller_finds_its_earlier_object(
    client: stripe.StripeClient, standin: StripeStandin
) -> None:
    merchant = client.v1.customers.create({"email": "m@merchant.example"})
    probe = client.v1.customers.create({"email": "probe@example.com"}, {"idempotency_key": "p"})
    first = bill_merchant_once(client, merchant.id, "2024-05:m7")

    assert standin.expire_idempotency_keys() >= 3
    # expiry is real: the same key and parameters now execute again (a naive retry bills twice)
    probe_again = client.v1.customers.create(
        {"email": "probe@example.com"}, {"idempotency_key": "p"}
    )
    assert probe_again.id != probe.id

    again = bill_merchant_once(client, merchant.id, "2024-05:m7")
    assert again.id == first.id
    assert len(client.v1.invoices.list({"customer": merchant.id}).data) == 1
    assert len(client.v1.invoice_items.list({"customer": merchant.id}).data) == 1
    by_metadata = [
        i.id
        for i in client.v1.invoice_items.list({"customer": merchant.id}).auto_paging_iter()
        if present(i.metadata).to_dict().get("settlement_key") == "2024-05:m7"
    ]
    assert len(by_metadata) == 1


def test_idempotency_keys_expire_after_24_hours() -> None:
    now = [1_700_000_000.0]
    with StripeStandin(clock=lambda: now[0]) as standin:
        client = make_client(standin)
        params: Any = {"email": "ttl@example.com"}
        first = client.v1.customers.create(params, {"idempotency_key": "ttl"})
        assert first.created == 1_700_000_000
        now[0] += 24 * 3600 - 1
        assert client.v1.customers.create(params, {"idempotency_key": "ttl"}).id == first.id
        now[0] += 1
        assert client.v1.customers.create(params, {"idempotency_key": "ttl"}).id != first.id


# ---- transfers ----------------------------------------------------------------------------


def test_transfers_to_connected_accounts_and_to_a_failing_one(
    client: stripe.StripeClient, standin: StripeStandin
) -> None:
    member = client.v1.accounts.create(
        {
            "type": "express",
            "country": "US",
            "email": "member@example.com",
            "capabilities": {"transfers": {"requested": True}},
        }
    )
    assert member.id.startswith("acct_") and member.type == "express"
    assert present(client.v1.accounts.retrieve(member.id).capabilities).transfers == "active"

    payout: Any = {
        "amount": 1500,
        "currency": "usd",
        "destination": member.id,
        "transfer_group": "payout-2024-05",
        "metadata": {"member_id": "m1"},
    }
    transfer = client.v1.transfers.create(payout, {"idempotency_key": "payout-2024-05:m1"})
    assert transfer.id.startswith("tr_") and transfer.destination == member.id
    assert (transfer.amount, transfer.reversed, transfer.amount_reversed) == (1500, False, 0)
    assert client.v1.transfers.retrieve(transfer.id).metadata.to_dict() == {"member_id": "m1"}
    assert [t.id for t in client.v1.transfers.list({"destination": member.id}).data] == [
        transfer.id
    ]
    assert len(client.v1.transfers.list({"transfer_group": "payout-2024-05"}).data) == 1

    failing = client.v1.accounts.create({"type": "custom", "country": "US"})
    standin.fail_transfers_to(failing.id)
    bounced: Any = {"amount": 800, "currency": "usd", "destination": failing.id}
    with pytest.raises(stripe.InvalidRequestError) as err:
        client.v1.transfers.create(bounced, {"idempotency_key": "payout-2024-05:m2"})
    assert (err.value.http_status, err.value.code, err.value.param) == (
        400,
        "insufficient_capabilities_for_transfer",
        "destination",
    )
    assert client.v1.transfers.list({"destination": failing.id}).data == []

    standin.fail_transfers_to(failing.id, mode="reverse")
    reversed_transfer = client.v1.transfers.create(bounced)
    assert reversed_transfer.reversed is True and reversed_transfer.amount_reversed == 800
    assert reversed_transfer.reversals.data[0].object == "transfer_reversal"

    standin.fail_transfers_to(failing.id, None)
    retried = client.v1.transfers.create(bounced, {"idempotency_key": "payout-2024-05:m2"})
    assert retried.reversed is False  # the failed attempt was not stored: the retry executes

    with pytest.raises(stripe.InvalidRequestError) as err:
        client.v1.transfers.create({"amount": 1, "currency": "usd", "destination": "acct_nope"})
    assert (err.value.code, err.value.param) == ("resource_missing", "destination")
    types = event_types(client)
    assert types.count("transfer.created") == 3 and types.count("transfer.reversed") == 1


# ---- cards --------------------------------------------------------------------------------


def test_setup_intent_confirm_gives_a_card_payment_method(
    client: stripe.StripeClient, standin: StripeStandin
) -> None:
    member = client.v1.customers.create({"email": "member@example.com"})
    intent = client.v1.setup_intents.create(
        # payment_method_types, as the application sends it (the SDK's newest API version
        # calls it allowed_payment_method_types)
        {"customer": member.id, "payment_method_types": ["card"], "usage": "off_session"}  # type: ignore[arg-type]
    )
    assert intent.id.startswith("seti_") and intent.status == "requires_payment_method"
    assert present(intent.client_secret).startswith(f"{intent.id}_secret_")

    confirmed = client.v1.setup_intents.confirm(intent.id, {"payment_method": "pm_card_visa"})
    assert confirmed.status == "succeeded"
    pm_id = present(_id_of(confirmed.payment_method))
    assert pm_id.startswith("pm_") and pm_id != "pm_card_visa"
    card = client.v1.payment_methods.retrieve(pm_id)
    details = present(card.card)
    assert (card.type, details.brand, details.last4) == ("card", "visa", "4242")
    assert isinstance(details.exp_month, int) and details.exp_year >= 2030
    assert card.customer == member.id
    attached = client.v1.customers.payment_methods.list(member.id)
    assert [pm.id for pm in attached.data] == [card.id]

    second = client.v1.setup_intents.create({"customer": member.id})
    second = client.v1.setup_intents.confirm(second.id, {"payment_method": "pm_card_visa"})
    again = client.v1.payment_methods.retrieve(present(_id_of(second.payment_method)))
    from_token = client.v1.payment_methods.create({"type": "card", "card": {"token": "tok_visa"}})
    assert again.id != card.id
    fingerprint = details.fingerprint
    assert fingerprint == present(again.card).fingerprint == present(from_token.card).fingerprint
    with StripeStandin() as elsewhere:
        other = make_client(elsewhere).v1.payment_methods.retrieve("pm_card_visa")
        assert present(other.card).fingerprint == fingerprint  # deterministic per test card

    brands = {}
    for magic in ("pm_card_mastercard", "pm_card_amex"):
        pm = client.v1.payment_methods.retrieve(magic)
        pm_card = present(pm.card)
        brands[pm_card.brand] = (pm_card.last4, pm_card.fingerprint)
    assert brands["mastercard"][0] == "4444" and brands["amex"][0] == "8431"
    assert len({fingerprint, *(fp for _, fp in brands.values())}) == 3

    with pytest.raises(stripe.InvalidRequestError, match="card numbers"):
        client.v1.payment_methods.create(
            {"type": "card", "card": {"number": "4242424242424242", "exp_month": 1}}
        )
    failing = client.v1.setup_intents.create({"customer": member.id})
    with pytest.raises(stripe.CardError) as err:
        client.v1.setup_intents.confirm(failing.id, {"payment_method": "pm_card_chargeDeclined"})
    assert err.value.code == "card_declined"
    failing = client.v1.setup_intents.retrieve(failing.id)
    assert failing.status == "requires_payment_method"
    assert present(failing.last_setup_error).code == "card_declined"
    assert event_types(client).count("setup_intent.succeeded") == 2


# ---- webhooks -----------------------------------------------------------------------------


def test_webhooks_are_signed_like_stripes_and_verify_with_the_sdk(
    client: stripe.StripeClient, standin: StripeStandin, receiver: Receiver
) -> None:
    standin.add_webhook_endpoint(receiver.url)
    merchant = client.v1.customers.create({"email": "m@merchant.example"})
    client.v1.invoice_items.create({"customer": merchant.id, "amount": 300, "currency": "usd"})
    invoice = client.v1.invoices.create(
        {
            "customer": merchant.id,
            "pending_invoice_items_behavior": "include",
            "collection_method": "send_invoice",
            "days_until_due": 7,
        }
    )
    client.v1.invoices.send_invoice(invoice.id)
    client.v1.invoices.pay(invoice.id, {"paid_out_of_band": True})
    account = client.v1.accounts.create({"type": "express"})
    client.v1.transfers.create({"amount": 100, "currency": "usd", "destination": account.id})
    intent = client.v1.setup_intents.create({"customer": merchant.id})
    client.v1.setup_intents.confirm(intent.id, {"payment_method": "pm_card_visa"})
    assert standin.wait_for_webhooks(timeout=5)

    verified = {}
    for body, headers in receiver.received:
        assert SIGNATURE.match(headers["Stripe-Signature"])
        event = stripe.Webhook.construct_event(
            body.decode(), headers["Stripe-Signature"], standin.webhook_secret
        )
        verified[event.type] = event
    assert {
        "customer.created",
        "invoice.finalized",
        "invoice.sent",
        "invoice.paid",
        "transfer.created",
        "setup_intent.succeeded",
    } <= set(verified)
    paid = verified["invoice.paid"]
    assert paid.id.startswith("evt_") and paid.data.object.id == invoice.id
    assert paid.data.object.status == "paid"
    assert client.v1.events.retrieve(paid.id).type == "invoice.paid"
    assert client.v1.events.retrieve(paid.id).pending_webhooks == 0

    attempts = standin.deliveries
    assert len(attempts) == len(receiver.received)
    assert all(a.status == 200 and a.url == receiver.url and a.attempt == 1 for a in attempts)

    body, headers = next((b, h) for b, h in receiver.received if b"invoice.paid" in b)
    with pytest.raises(stripe.SignatureVerificationError):
        stripe.Webhook.construct_event(
            body.replace(b'"paid"', b'"void"').decode(),
            headers["Stripe-Signature"],
            standin.webhook_secret,
        )
    with pytest.raises(stripe.SignatureVerificationError):
        stripe.Webhook.construct_event(
            body.decode(), headers["Stripe-Signature"], "whsec_someone_else"
        )
    stale = sign(body, standin.webhook_secret, int(time.time()) - 3600)
    with pytest.raises(stripe.SignatureVerificationError):
        stripe.Webhook.construct_event(body.decode(), stale, standin.webhook_secret)


def test_failed_webhook_deliveries_are_retried_a_bounded_number_of_times(
    client: stripe.StripeClient, standin: StripeStandin
) -> None:
    flaky = Receiver(statuses=(500, 503))
    dead_url = f"http://127.0.0.1:{free_port()}/gone"
    try:
        standin.set_webhook_endpoints([flaky.url, dead_url], enabled_events=["customer.*"])
        customer = client.v1.customers.create({"email": "retry@example.com"})
        client.v1.invoice_items.create({"customer": customer.id, "amount": 1, "currency": "usd"})
        assert standin.wait_for_webhooks(timeout=5)
    finally:
        flaky.close()
    flaky_attempts = [(a.attempt, a.status) for a in standin.deliveries if a.url == flaky.url]
    assert flaky_attempts == [(1, 500), (2, 503), (3, 200)]
    dead = [a for a in standin.deliveries if a.url == dead_url]
    assert [a.attempt for a in dead] == [1, 2, 3]
    assert all(a.status is None and a.error for a in dead)
    assert {a.event_type for a in standin.deliveries} == {"customer.created"}
    event = client.v1.events.list({"type": "customer.created"}).data[0]
    assert event.pending_webhooks == 1  # delivered to one of the two endpoints


def test_control_endpoints(
    client: stripe.StripeClient, standin: StripeStandin, receiver: Receiver
) -> None:
    assert control(standin, "GET", "health")["ok"] is True
    control(standin, "POST", "webhooks", {"urls": [receiver.url], "enabled_events": ["invoice.*"]})
    assert [e["url"] for e in control(standin, "GET", "webhooks")["data"]] == [receiver.url]

    merchant = client.v1.customers.create({"email": "m@merchant.example"})
    client.v1.invoice_items.create({"customer": merchant.id, "amount": 700, "currency": "usd"})
    invoice = client.v1.invoices.create(
        {"customer": merchant.id, "pending_invoice_items_behavior": "include"}
    )
    invoice = client.v1.invoices.finalize_invoice(invoice.id)
    paid = control(standin, "POST", f"invoices/{invoice.id}/pay", {"out_of_band": True})
    assert paid["status"] == "paid" and paid["amount_paid"] == 700
    assert client.v1.invoices.retrieve(invoice.id).status == "paid"
    assert control(standin, "POST", "deliveries/wait", {"timeout": 5})["idle"] is True
    delivered = control(standin, "GET", "deliveries")["data"]
    assert sorted(d["event_type"] for d in delivered) == [  # like Stripe, in no set order
        "invoice.created",
        "invoice.finalized",
        "invoice.paid",
    ]
    assert all(d["status"] == 200 and d["ok"] for d in delivered)

    counters = control(standin, "GET", "counters")
    assert counters["created"]["customer"] == 1 and counters["created"]["invoice"] == 1
    assert counters["live"]["invoiceitem"] == 1 and counters["webhook_attempts"] == 3

    account = client.v1.accounts.create({"type": "express"})
    control(standin, "POST", f"accounts/{account.id}/fail_transfers", {"mode": "error"})
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.transfers.create({"amount": 5, "currency": "usd", "destination": account.id})
    control(standin, "POST", f"accounts/{account.id}/fail_transfers", {"mode": "off"})
    client.v1.transfers.create({"amount": 5, "currency": "usd", "destination": account.id})

    client.v1.customers.create({"email": "k@example.com"}, {"idempotency_key": "k"})
    assert control(standin, "POST", "idempotency/expire", {"key": "k"})["expired"] == 1
    assert control(standin, "POST", "idempotency/expire", {})["expired"] >= 1

    control(standin, "POST", "reset", {})
    assert client.v1.customers.list().data == []
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.customers.retrieve(merchant.id)
    assert http("GET", f"{standin.url}/_standin/nothing")[0] == 404


# ---- shapes -------------------------------------------------------------------------------


def fixture_resources() -> dict[str, Any]:
    path = Path(
        os.environ.get(FIXTURES_ENV)
        or REPO_ROOT.parent / "shared" / "specs" / "stripe-fixtures3.json"
    )
    if not path.is_file():
        raise FileNotFoundError(f"Stripe fixtures not found at {path} (set {FIXTURES_ENV})")
    return json.loads(path.read_text())["resources"]


def test_objects_carry_every_top_level_key_of_stripes_fixtures(
    client: stripe.StripeClient, standin: StripeStandin
) -> None:
    fixtures = fixture_resources()
    customer = client.v1.customers.create({"email": "shape@example.com"})
    item = client.v1.invoice_items.create({"customer": customer.id, "amount": 5, "currency": "usd"})
    invoice = client.v1.invoices.create(
        {"customer": customer.id, "pending_invoice_items_behavior": "include"}
    )
    account = client.v1.accounts.create({"type": "express"})
    transfer = client.v1.transfers.create(
        {"amount": 5, "currency": "usd", "destination": account.id}
    )
    reversal = client.v1.transfers.reversals.create(transfer.id, {"amount": 2})
    intent = client.v1.setup_intents.create({"customer": customer.id})
    intent = client.v1.setup_intents.confirm(intent.id, {"payment_method": "pm_card_visa"})
    card = client.v1.payment_methods.retrieve(present(_id_of(intent.payment_method)))
    event = client.v1.events.list({"limit": 1}).data[0]

    emitted: dict[str, Any] = {
        "customer": customer,
        "invoiceitem": item,
        "invoice": invoice,
        "line_item": invoice.lines.data[0],
        "account": account,
        "transfer": transfer,
        "transfer_reversal": reversal,
        "setup_intent": intent,
        "payment_method": card,
        "event": event,
    }
    for kind, obj in emitted.items():
        ours = obj.to_dict()
        missing = set(fixtures[kind]) - set(ours)
        assert not missing, f"{kind} lacks {sorted(missing)}"
        assert ours["object"] == fixtures[kind]["object"]
        assert ours["id"].split("_")[0] == fixtures[kind]["id"].split("_")[0], kind
        assert ours.get("livemode", False) is False
    for kind in ("customer", "invoiceitem", "invoice", "transfer", "setup_intent", "account"):
        assert emitted[kind].metadata.to_dict() == {}
    payment_card = set(fixtures["payment_method"]["card"]) - set(present(card.card).to_dict())
    assert not payment_card, f"payment_method.card lacks {sorted(payment_card)}"


# ---- running it ---------------------------------------------------------------------------


def test_module_runs_in_the_foreground_from_the_command_line() -> None:
    port = free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "infra.standins.stripe_standin",
            "--port",
            str(port),
            "--webhook-secret",
            "whsec_from_the_cli",
        ],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert process.stdout is not None
        assert f"listening on http://127.0.0.1:{port}" in process.stdout.readline()
        url = f"http://127.0.0.1:{port}"
        cli = stripe.StripeClient("sk_test_cli", base_addresses={"api": url})
        assert cli.v1.customers.create({"email": "cli@example.com"}).id.startswith("cus_")
    finally:
        process.terminate()
        process.wait(timeout=5)
