"""The Plaid stand-in, driven through the real plaid-python client (nothing patched or mocked).

Every response is checked against Plaid's published OpenAPI spec: the shared stand-in runs in
strict mode (a response the spec does not allow becomes a 500 and fails the test), and one
scenario re-validates every recorded response body on its own.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import queue
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import jwt
import plaid
import pytest
from plaid.api.plaid_api import PlaidApi
from plaid.model.accounts_get_request import AccountsGetRequest
from plaid.model.country_code import CountryCode
from plaid.model.custom_sandbox_transaction import CustomSandboxTransaction
from plaid.model.item_get_request import ItemGetRequest
from plaid.model.item_public_token_exchange_request import ItemPublicTokenExchangeRequest
from plaid.model.item_remove_request import ItemRemoveRequest
from plaid.model.item_webhook_update_request import ItemWebhookUpdateRequest
from plaid.model.link_token_create_request import LinkTokenCreateRequest
from plaid.model.link_token_create_request_user import LinkTokenCreateRequestUser
from plaid.model.products import Products
from plaid.model.sandbox_item_fire_webhook_request import SandboxItemFireWebhookRequest
from plaid.model.sandbox_item_reset_login_request import SandboxItemResetLoginRequest
from plaid.model.sandbox_public_token_create_request import SandboxPublicTokenCreateRequest
from plaid.model.sandbox_public_token_create_request_options import (
    SandboxPublicTokenCreateRequestOptions,
)
from plaid.model.sandbox_transactions_create_request import SandboxTransactionsCreateRequest
from plaid.model.transactions_sync_request import TransactionsSyncRequest
from plaid.model.webhook_verification_key_get_request import WebhookVerificationKeyGetRequest

from infra.standins.plaid_standin import (
    PlaidStandin,
    SigningKey,
    SpecViolationError,
    load_spec,
    sign_plaid_jwt,
    validate_response,
    validate_webhook,
)
from infra.standins.plaid_standin import api as standin_api
from infra.standins.plaid_standin.schema import repo_root, spec_path

WEBHOOK_MAX_AGE_S = 300

# ---- fixtures and helpers ---------------------------------------------------------------


@pytest.fixture(scope="module")
def standin() -> Iterator[PlaidStandin]:
    with PlaidStandin(strict=True) as server:  # leaving raises if any response broke the spec
        yield server


def make_client(server: PlaidStandin, *, secret: str | None = None) -> PlaidApi:
    configuration = plaid.Configuration(
        host=server.url,
        api_key={"clientId": server.client_id, "secret": secret or server.secret},
    )
    return PlaidApi(plaid.ApiClient(configuration))


@pytest.fixture
def client(standin: PlaidStandin) -> Iterator[PlaidApi]:
    api = make_client(standin)
    yield api
    api.api_client.close()


@dataclass
class Linked:
    access_token: str
    item_id: str


def link(client: PlaidApi, *, webhook: str | None = None) -> Linked:
    client.link_token_create(
        LinkTokenCreateRequest(
            client_name="CLO tests",
            language="en",
            country_codes=[CountryCode("US")],
            user=LinkTokenCreateRequestUser(client_user_id="member-1"),
            products=[Products("transactions")],
        )
    )
    options = (
        {"options": SandboxPublicTokenCreateRequestOptions(webhook=webhook)} if webhook else {}
    )
    public_token = client.sandbox_public_token_create(
        SandboxPublicTokenCreateRequest(
            institution_id="ins_109508", initial_products=[Products("transactions")], **options
        )
    ).public_token
    exchanged = client.item_public_token_exchange(
        ItemPublicTokenExchangeRequest(public_token=public_token)
    )
    return Linked(exchanged.access_token, exchanged.item_id)


@dataclass
class Synced:
    added: list[Any]
    modified: list[Any]
    removed: list[Any]
    cursor: str
    page_sizes: list[int]


def sync_all(client: PlaidApi, access_token: str, cursor: str = "", count: int = 100) -> Synced:
    out = Synced([], [], [], cursor, [])
    for _ in range(50):
        page = client.transactions_sync(
            TransactionsSyncRequest(access_token=access_token, cursor=out.cursor, count=count)
        )
        out.added += page.added
        out.modified += page.modified
        out.removed += page.removed
        out.page_sizes.append(len(page.added) + len(page.modified) + len(page.removed))
        out.cursor = page.next_cursor
        if not page.has_more:
            return out
    raise AssertionError("sync did not finish")


def plaid_error(exc: plaid.ApiException) -> dict[str, Any]:
    return json.loads(exc.body)


def raw_post(url: str, body: Any, headers: dict[str, str] | None = None) -> tuple[int, dict]:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    request = urllib.request.Request(  # noqa: S310 - a local http:// URL
        url, data=data, headers={"Content-Type": "application/json", **(headers or {})}
    )
    try:
        with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        with exc:
            return exc.code, json.loads(exc.read())


class WebhookReceiver:
    """A local HTTP endpoint that keeps the raw bytes and headers of each webhook."""

    def __init__(self) -> None:
        self.received: queue.Queue[tuple[dict[str, str], bytes]] = queue.Queue()
        received = self.received

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers["Content-Length"]))
                received.put((dict(self.headers.items()), raw))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/plaid/webhook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def next(self, timeout: float = 5.0) -> tuple[dict[str, str], bytes]:
        return self.received.get(timeout=timeout)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    found = WebhookReceiver()
    yield found
    found.close()


def verify_plaid_webhook(client: PlaidApi, token: str, body: bytes) -> dict[str, Any]:
    """Verify as a receiver must: ES256 only, key by kid from Plaid, fresh iat, body hash."""
    header = jwt.get_unverified_header(token)
    jwk = client.webhook_verification_key_get(
        WebhookVerificationKeyGetRequest(key_id=header["kid"])
    ).key
    assert (jwk.alg, jwk.kty, jwk.crv, jwk.use) == ("ES256", "EC", "P-256", "sig")
    public = jwt.PyJWK({"kty": "EC", "crv": "P-256", "x": jwk.x, "y": jwk.y}, algorithm="ES256")
    claims = jwt.decode(token, public, algorithms=["ES256"], options={"verify_iat": False})
    if abs(time.time() - claims["iat"]) > WEBHOOK_MAX_AGE_S:
        raise jwt.InvalidTokenError("stale iat")
    expected = hashlib.sha256(body).hexdigest()
    if not hmac.compare_digest(claims["request_body_sha256"], expected):
        raise jwt.InvalidTokenError("body hash mismatch")
    return claims


# ---- link flow --------------------------------------------------------------------------


def test_link_flow_gives_card_and_checking_accounts_with_masks(client: PlaidApi) -> None:
    token = client.link_token_create(
        LinkTokenCreateRequest(
            client_name="CLO",
            language="en",
            country_codes=[CountryCode("US")],
            user=LinkTokenCreateRequestUser(client_user_id="member-7"),
        )
    )
    assert token.link_token.startswith("link-sandbox-")
    assert token.expiration > dt.datetime.now(dt.UTC)

    linked = link(client)
    assert linked.access_token.startswith("access-sandbox-")

    response = client.accounts_get(AccountsGetRequest(access_token=linked.access_token))
    by_type = {str(a.type): a for a in response.accounts}
    assert set(by_type) == {"credit", "depository"}
    card, checking = by_type["credit"], by_type["depository"]
    assert (card.mask, str(card.subtype)) == ("3333", "credit card")
    assert (checking.mask, str(checking.subtype)) == ("0000", "checking")
    assert card.balances.limit == 2000.0
    assert card.balances.iso_currency_code == "USD"
    assert response.item.item_id == linked.item_id

    item = client.item_get(ItemGetRequest(access_token=linked.access_token)).item
    assert item.institution_id == "ins_109508"
    assert item.error is None


def test_public_token_is_single_use(client: PlaidApi, standin: PlaidStandin) -> None:
    public_token = client.sandbox_public_token_create(
        SandboxPublicTokenCreateRequest(
            institution_id="ins_109508", initial_products=[Products("transactions")]
        )
    ).public_token
    client.item_public_token_exchange(ItemPublicTokenExchangeRequest(public_token=public_token))
    with pytest.raises(plaid.ApiException) as caught:
        client.item_public_token_exchange(ItemPublicTokenExchangeRequest(public_token=public_token))
    assert plaid_error(caught.value)["error_code"] == "INVALID_PUBLIC_TOKEN"


# ---- /transactions/sync ------------------------------------------------------------------


def test_sync_pages_250_transactions_and_the_final_cursor_resumes(
    client: PlaidApi, standin: PlaidStandin
) -> None:
    linked = link(client)
    created = standin.add_transactions(
        linked.access_token,
        [{"amount": 1 + i, "name": f"Shop {i}", "merchant_name": f"Shop {i}"} for i in range(250)],
    )

    synced = sync_all(client, linked.access_token, count=100)

    assert synced.page_sizes == [100, 100, 50]
    assert [t.transaction_id for t in synced.added] == [t["transaction_id"] for t in created]
    assert synced.modified == [] and synced.removed == []
    again = sync_all(client, linked.access_token, cursor=synced.cursor)
    assert again.page_sizes == [0]
    assert again.cursor == synced.cursor

    standin.add_posted_transaction(linked.access_token, amount=9.99, merchant_name="Late Cafe")
    later = sync_all(client, linked.access_token, cursor=synced.cursor)
    assert [t.merchant_name for t in later.added] == ["Late Cafe"]


def test_default_count_is_100_and_count_over_500_is_refused(
    client: PlaidApi, standin: PlaidStandin
) -> None:
    linked = link(client)
    standin.add_transactions(linked.access_token, [{"amount": 2}] * 120)
    page = client.transactions_sync(TransactionsSyncRequest(access_token=linked.access_token))
    assert (len(page.added), page.has_more) == (100, True)

    credentials = {"client_id": standin.client_id, "secret": standin.secret}
    status, body = raw_post(
        standin.url + "/transactions/sync",
        {**credentials, "access_token": linked.access_token, "count": 501},
    )
    assert (status, body["error_code"], body["error_type"]) == (
        400,
        "INVALID_FIELD",
        "INVALID_REQUEST",
    )


def test_pending_then_posted_with_a_tip(client: PlaidApi, standin: PlaidStandin) -> None:
    linked = link(client)
    pending = standin.add_pending_transaction(
        linked.access_token,
        amount=40.00,
        name="BLUE BOTTLE #12",
        merchant_name="Blue Bottle Coffee",
        merchant_entity_id="ent-bluebottle",
        authorized_datetime="2024-05-01T09:30:00Z",
        location={"city": "Oakland", "region": "CA", "postal_code": "94607", "country": "US"},
    )
    first = sync_all(client, linked.access_token)
    assert [(t.transaction_id, t.pending, t.amount) for t in first.added] == [
        (pending["transaction_id"], True, 40.0)
    ]
    assert first.added[0].authorized_date == dt.date(2024, 5, 1)
    assert first.added[0].location.postal_code == "94607"
    assert str(first.added[0].payment_channel) == "in store"

    posted = standin.post_pending_transaction(
        linked.access_token, pending["transaction_id"], amount=46.00
    )
    second = sync_all(client, linked.access_token, cursor=first.cursor)

    assert [r.transaction_id for r in second.removed] == [pending["transaction_id"]]
    assert len(second.added) == 1
    settled = second.added[0]
    assert settled.transaction_id == posted["transaction_id"] != pending["transaction_id"]
    assert settled.pending is False
    assert settled.pending_transaction_id == pending["transaction_id"]
    assert settled.amount == 46.0
    assert settled.merchant_entity_id == "ent-bluebottle"


def test_removed_and_modified_transactions(client: PlaidApi, standin: PlaidStandin) -> None:
    linked = link(client)
    keep = standin.add_posted_transaction(linked.access_token, amount=10, merchant_name="A")
    drop = standin.add_posted_transaction(linked.access_token, amount=20, merchant_name="B")
    first = sync_all(client, linked.access_token)

    standin.remove_transaction(linked.access_token, drop["transaction_id"])
    standin.modify_amount(linked.access_token, keep["transaction_id"], 12.34)
    second = sync_all(client, linked.access_token, cursor=first.cursor)

    assert [(r.transaction_id, r.account_id) for r in second.removed] == [
        (drop["transaction_id"], drop["account_id"])
    ]
    assert [(t.transaction_id, t.amount) for t in second.modified] == [
        (keep["transaction_id"], 12.34)
    ]
    assert second.added == []


def test_refund_has_a_negative_amount_and_no_pending_link(
    client: PlaidApi, standin: PlaidStandin
) -> None:
    linked = link(client)
    purchase = standin.add_posted_transaction(
        linked.access_token, amount=80, merchant_name="Shoe Shop", payment_channel="online"
    )
    refund = standin.add_refund(linked.access_token, amount=30, merchant_name="Shoe Shop")
    synced = sync_all(client, linked.access_token)
    by_id = {t.transaction_id: t for t in synced.added}
    assert by_id[purchase["transaction_id"]].amount == 80.0
    assert str(by_id[purchase["transaction_id"]].payment_channel) == "online"
    assert by_id[refund["transaction_id"]].amount == -30.0
    assert by_id[refund["transaction_id"]].pending_transaction_id is None
    assert by_id[refund["transaction_id"]].pending is False


def test_forced_mutation_during_pagination_then_restart_succeeds(
    client: PlaidApi, standin: PlaidStandin
) -> None:
    linked = link(client)
    standin.add_transactions(linked.access_token, [{"amount": 5}] * 150)
    first = client.transactions_sync(
        TransactionsSyncRequest(access_token=linked.access_token, count=100)
    )
    assert first.has_more
    standin.force_sync_mutation_error(linked.access_token)

    with pytest.raises(plaid.ApiException) as caught:
        client.transactions_sync(
            TransactionsSyncRequest(
                access_token=linked.access_token, cursor=first.next_cursor, count=100
            )
        )
    assert caught.value.status == 400
    error = plaid_error(caught.value)
    assert error["error_type"] == "TRANSACTIONS_ERROR"
    assert error["error_code"] == "TRANSACTIONS_SYNC_MUTATION_DURING_PAGINATION"
    assert error["request_id"]

    restarted = sync_all(client, linked.access_token)  # from the cursor the loop began with
    assert restarted.page_sizes == [100, 50]


def test_real_mutation_during_pagination_is_refused(
    client: PlaidApi, standin: PlaidStandin
) -> None:
    linked = link(client)
    standin.add_transactions(linked.access_token, [{"amount": 5}] * 3)
    first = client.transactions_sync(
        TransactionsSyncRequest(access_token=linked.access_token, count=2)
    )
    standin.add_pending_transaction(linked.access_token, amount=7)
    with pytest.raises(plaid.ApiException) as caught:
        client.transactions_sync(
            TransactionsSyncRequest(
                access_token=linked.access_token, cursor=first.next_cursor, count=2
            )
        )
    assert plaid_error(caught.value)["error_code"] == "TRANSACTIONS_SYNC_MUTATION_DURING_PAGINATION"
    assert len(sync_all(client, linked.access_token, count=2).added) == 4


def test_sandbox_transactions_create_adds_posted_transactions(
    client: PlaidApi, standin: PlaidStandin
) -> None:
    linked = link(client)
    client.sandbox_transactions_create(
        SandboxTransactionsCreateRequest(
            access_token=linked.access_token,
            transactions=[
                CustomSandboxTransaction(
                    date_transacted=dt.date(2024, 6, 1),
                    date_posted=dt.date(2024, 6, 3),
                    amount=25.5,
                    description="PIZZA PLANET",
                    iso_currency_code="USD",
                )
            ],
        )
    )
    [added] = sync_all(client, linked.access_token).added
    assert (added.name, added.amount, added.pending) == ("PIZZA PLANET", 25.5, False)
    assert (added.authorized_date, added.date) == (dt.date(2024, 6, 1), dt.date(2024, 6, 3))
    assert added.iso_currency_code == "USD"


# ---- item errors and bad requests --------------------------------------------------------


def test_item_login_required_until_repaired(client: PlaidApi, standin: PlaidStandin) -> None:
    linked = link(client)
    standin.require_login(linked.item_id)

    for call in (
        lambda: client.transactions_sync(TransactionsSyncRequest(access_token=linked.access_token)),
        lambda: client.accounts_get(AccountsGetRequest(access_token=linked.access_token)),
    ):
        with pytest.raises(plaid.ApiException) as caught:
            call()
        assert caught.value.status == 400
        error = plaid_error(caught.value)
        assert (error["error_type"], error["error_code"]) == ("ITEM_ERROR", "ITEM_LOGIN_REQUIRED")
        assert error["display_message"]

    item = client.item_get(ItemGetRequest(access_token=linked.access_token)).item
    assert item.error.error_code == "ITEM_LOGIN_REQUIRED"

    standin.repair_login(linked.access_token)
    client.transactions_sync(TransactionsSyncRequest(access_token=linked.access_token))

    client.sandbox_item_reset_login(SandboxItemResetLoginRequest(access_token=linked.access_token))
    with pytest.raises(plaid.ApiException) as caught:
        client.accounts_get(AccountsGetRequest(access_token=linked.access_token))
    assert plaid_error(caught.value)["error_code"] == "ITEM_LOGIN_REQUIRED"


def test_access_token_errors(client: PlaidApi, standin: PlaidStandin) -> None:
    linked = link(client)
    standin.revoke_access_token(linked.access_token)
    with pytest.raises(plaid.ApiException) as caught:
        client.accounts_get(AccountsGetRequest(access_token=linked.access_token))
    assert caught.value.status == 400
    error = plaid_error(caught.value)
    assert (error["error_type"], error["error_code"]) == ("INVALID_INPUT", "INVALID_ACCESS_TOKEN")

    with pytest.raises(plaid.ApiException) as caught:
        client.item_get(ItemGetRequest(access_token="access-sandbox-no-such-token"))
    assert plaid_error(caught.value)["error_code"] == "INVALID_ACCESS_TOKEN"

    removed = link(client)
    client.item_remove(ItemRemoveRequest(access_token=removed.access_token))
    with pytest.raises(plaid.ApiException) as caught:
        client.item_get(ItemGetRequest(access_token=removed.access_token))
    assert plaid_error(caught.value)["error_code"] == "ITEM_NOT_FOUND"


def test_wrong_secret_is_invalid_api_keys(standin: PlaidStandin) -> None:
    wrong = make_client(standin, secret="not-the-secret")
    with pytest.raises(plaid.ApiException) as caught:
        wrong.item_get(ItemGetRequest(access_token="access-sandbox-x"))
    wrong.api_client.close()
    assert caught.value.status == 400
    error = plaid_error(caught.value)
    assert (error["error_type"], error["error_code"]) == ("INVALID_INPUT", "INVALID_API_KEYS")


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"access_token": "access-sandbox-x"}, 400, "MISSING_FIELDS"),  # no client_id/secret
        ({"client_id": "x", "secret": "y", "access_token": "access-sandbox-x"}, 400,
         "INVALID_API_KEYS"),
        ({"CREDS": 1}, 400, "MISSING_FIELDS"),  # access_token missing
        ({"CREDS": 1, "access_token": "access-sandbox-x", "cursor": 5}, 400, "INVALID_FIELD"),
        ({"CREDS": 1, "access_token": "access-sandbox-x", "surprise": 1}, 400, "UNKNOWN_FIELDS"),
        ({"CREDS": 1, "access_token": "bogus"}, 400, "INVALID_ACCESS_TOKEN"),
        (b"{not json", 400, "INVALID_BODY"),
    ],
)  # fmt: skip
def test_bad_requests_get_plaid_errors(
    standin: PlaidStandin, body: Any, status: int, code: str
) -> None:
    if isinstance(body, dict) and body.pop("CREDS", None):
        body = {"client_id": standin.client_id, "secret": standin.secret, **body}
    got_status, error = raw_post(standin.url + "/transactions/sync", body)
    assert (got_status, error["error_code"]) == (status, code)
    assert {"error_type", "error_message", "display_message", "request_id"} <= set(error)
    validate_response("/transactions/sync", got_status, error)


def test_unknown_endpoint_is_not_found(standin: PlaidStandin) -> None:
    status, error = raw_post(standin.url + "/no/such/endpoint", {})
    assert (status, error["error_code"]) == (404, "NOT_FOUND")


# ---- webhooks ----------------------------------------------------------------------------


def test_webhook_is_delivered_and_verifies(
    client: PlaidApi, standin: PlaidStandin, receiver: WebhookReceiver
) -> None:
    linked = link(client, webhook=receiver.url)
    headers, raw = receiver.next()  # the exchange announces the initial data
    assert json.loads(raw)["item_id"] == linked.item_id

    standin.add_posted_transaction(linked.access_token, amount=3.5, merchant_name="Kiosk")
    headers, raw = receiver.next()
    body = json.loads(raw)
    assert body == {
        "webhook_type": "TRANSACTIONS",
        "webhook_code": "SYNC_UPDATES_AVAILABLE",
        "item_id": linked.item_id,
        "initial_update_complete": True,
        "historical_update_complete": True,
        "environment": "sandbox",
    }
    validate_webhook(body)
    token = headers["Plaid-Verification"]
    header = jwt.get_unverified_header(token)
    assert header == {"alg": "ES256", "kid": standin.signing_key.kid, "typ": "JWT"}
    claims = verify_plaid_webhook(client, token, raw)
    assert set(claims) == {"iat", "request_body_sha256"}

    with pytest.raises(jwt.InvalidTokenError):  # one byte of the body changed
        verify_plaid_webhook(client, token, raw + b" ")
    stale = sign_plaid_jwt(raw, standin.signing_key, iat=int(time.time()) - 600)
    with pytest.raises(jwt.InvalidTokenError):
        verify_plaid_webhook(client, stale, raw)
    impostor = SigningKey.generate()
    forged = sign_plaid_jwt(raw, impostor, header_overrides={"kid": standin.signing_key.kid})
    with pytest.raises(jwt.InvalidTokenError):
        verify_plaid_webhook(client, forged, raw)
    unsigned = sign_plaid_jwt(raw, standin.signing_key, header_overrides={"alg": "none"})
    with pytest.raises(jwt.InvalidTokenError):
        verify_plaid_webhook(client, unsigned, raw)

    fired = client.sandbox_item_fire_webhook(
        SandboxItemFireWebhookRequest(
            access_token=linked.access_token, webhook_code="SYNC_UPDATES_AVAILABLE"
        )
    )
    assert fired.webhook_fired is True
    headers, raw = receiver.next()
    verify_plaid_webhook(client, headers["Plaid-Verification"], raw)

    standin.drain_webhooks()
    mine = [d for d in standin.deliveries if d.body.get("item_id") == linked.item_id]
    assert [d.status for d in mine] == [200, 200, 200]


def test_item_webhooks_and_firing_without_a_webhook(
    client: PlaidApi, standin: PlaidStandin, receiver: WebhookReceiver
) -> None:
    linked = link(client, webhook=receiver.url)
    receiver.next()
    standin.require_login(linked.item_id)
    _, raw = receiver.next()
    error_webhook = json.loads(raw)
    assert (error_webhook["webhook_type"], error_webhook["webhook_code"]) == ("ITEM", "ERROR")
    assert error_webhook["error"]["error_code"] == "ITEM_LOGIN_REQUIRED"
    validate_webhook(error_webhook)

    client.item_webhook_update(ItemWebhookUpdateRequest(access_token=linked.access_token))
    quiet = link(client)
    with pytest.raises(plaid.ApiException) as caught:
        client.sandbox_item_fire_webhook(
            SandboxItemFireWebhookRequest(
                access_token=quiet.access_token, webhook_code="DEFAULT_UPDATE"
            )
        )
    assert plaid_error(caught.value)["error_code"] == "SANDBOX_WEBHOOK_INVALID"


def test_key_rotation_keeps_old_key_retrievable() -> None:
    with PlaidStandin() as server:
        client = make_client(server)
        old_kid = server.signing_key.kid
        new_jwk = server.rotate_webhook_key()
        assert new_jwk["kid"] != old_kid and server.signing_key.kid == new_jwk["kid"]

        old = client.webhook_verification_key_get(WebhookVerificationKeyGetRequest(key_id=old_kid))
        assert old.key.expired_at is not None and old.key.expired_at >= old.key.created_at
        new = client.webhook_verification_key_get(
            WebhookVerificationKeyGetRequest(key_id=new_jwk["kid"])
        )
        assert new.key.expired_at is None

        with pytest.raises(plaid.ApiException) as caught:
            client.webhook_verification_key_get(WebhookVerificationKeyGetRequest(key_id="nope"))
        error = plaid_error(caught.value)
        assert (caught.value.status, error["error_code"]) == (
            400,
            "INVALID_WEBHOOK_VERIFICATION_KEY_ID",
        )
        client.api_client.close()


# ---- control API and command line --------------------------------------------------------


def test_control_endpoints_script_a_scenario_over_http(standin: PlaidStandin) -> None:
    control = standin.url + "/_standin/"
    status, created = raw_post(control + "items/create", {"card_mask": "4242"})
    assert status == 200
    item = created["result"]
    assert {a["mask"] for a in item["accounts"]} == {"4242", "0000"}

    _, pending = raw_post(
        control + "transactions/add_pending",
        {"item": item["item_id"], "amount": 12.5, "merchant_name": "Deli"},
    )
    pending_id = pending["result"]["transaction_id"]
    _, posted = raw_post(
        control + "transactions/post",
        {"item": item["access_token"], "pending_transaction_id": pending_id, "amount": 15},
    )
    assert posted["result"]["pending_transaction_id"] == pending["result"]["transaction_id"]
    assert posted["result"]["amount"] == 15.0

    status, error = raw_post(
        control + "transactions/remove", {"item": item["item_id"], "transaction_id": "missing"}
    )
    assert (status, error["error_code"]) == (400, "INVALID_FIELD")
    status, _ = raw_post(control + "no/such/control", {})
    assert status == 404
    with urllib.request.urlopen(control + "webhooks", timeout=5) as response:  # noqa: S310
        assert isinstance(json.loads(response.read())["result"], list)


def test_command_line_runs_the_server_in_the_foreground() -> None:
    repo = Path(__file__).resolve().parents[2]
    process = subprocess.Popen(
        [sys.executable, "-m", "infra.standins.plaid_standin", "--port", "0",
         "--client-id", "cli-client", "--secret", "cli-secret"],
        cwd=repo, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )  # fmt: skip
    try:
        assert process.stdout is not None
        url = process.stdout.readline().strip().rsplit(" ", 1)[-1]
        assert url.startswith("http://127.0.0.1:")
        status, body = raw_post(
            url + "/webhook_verification_key/get",
            {"client_id": "cli-client", "secret": "cli-secret", "key_id": "unknown"},
        )
        assert (status, body["error_code"]) == (400, "INVALID_WEBHOOK_VERIFICATION_KEY_ID")
    finally:
        process.terminate()
        process.wait(timeout=5)
        if process.stdout is not None:
            process.stdout.close()


# ---- the spec ----------------------------------------------------------------------------


def test_every_response_of_a_full_scenario_matches_the_spec(receiver: WebhookReceiver) -> None:
    with PlaidStandin(strict=True) as server:
        client = make_client(server)
        linked = link(client, webhook=receiver.url)
        client.accounts_get(AccountsGetRequest(access_token=linked.access_token))
        client.item_get(ItemGetRequest(access_token=linked.access_token))
        pending = server.add_pending_transaction(linked.item_id, amount=9, merchant_name="Cafe")
        server.add_transactions(linked.item_id, [{"amount": i + 1} for i in range(7)])
        server.add_refund(linked.item_id, amount=2)
        first = sync_all(client, linked.access_token, count=3)
        server.post_pending_transaction(linked.item_id, pending["transaction_id"], amount=11)
        server.modify_amount(linked.item_id, first.added[1].transaction_id, 99)
        server.remove_transaction(linked.item_id, first.added[2].transaction_id)
        sync_all(client, linked.access_token, cursor=first.cursor, count=2)
        page = client.transactions_sync(
            TransactionsSyncRequest(access_token=linked.access_token, count=1)
        )
        server.force_sync_mutation_error(linked.item_id)
        with pytest.raises(plaid.ApiException):
            client.transactions_sync(
                TransactionsSyncRequest(
                    access_token=linked.access_token, cursor=page.next_cursor, count=1
                )
            )
        client.sandbox_transactions_create(
            SandboxTransactionsCreateRequest(
                access_token=linked.access_token,
                transactions=[
                    CustomSandboxTransaction(
                        date_transacted=dt.date(2024, 1, 2),
                        date_posted=dt.date(2024, 1, 3),
                        amount=4.2,
                        description="TACO TRUCK",
                    )
                ],
            )
        )
        client.sandbox_item_fire_webhook(
            SandboxItemFireWebhookRequest(
                access_token=linked.access_token, webhook_code="DEFAULT_UPDATE"
            )
        )
        client.webhook_verification_key_get(
            WebhookVerificationKeyGetRequest(key_id=server.signing_key.kid)
        )
        client.item_webhook_update(
            ItemWebhookUpdateRequest(access_token=linked.access_token, webhook=receiver.url)
        )
        client.sandbox_item_reset_login(
            SandboxItemResetLoginRequest(access_token=linked.access_token)
        )
        client.item_get(ItemGetRequest(access_token=linked.access_token))
        wrong = make_client(server, secret="wrong")
        for bad in (
            lambda: client.accounts_get(AccountsGetRequest(access_token=linked.access_token)),
            lambda: wrong.item_get(ItemGetRequest(access_token=linked.access_token)),
            lambda: client.webhook_verification_key_get(
                WebhookVerificationKeyGetRequest(key_id="missing")
            ),
        ):
            with pytest.raises(plaid.ApiException):
                bad()
        wrong.api_client.close()
        client.item_remove(ItemRemoveRequest(access_token=linked.access_token))
        raw_post(server.url + "/no/such/endpoint", {})
        server.drain_webhooks()
        client.api_client.close()

        responses = server.responses
        deliveries = server.deliveries

    assert {r.path for r in responses if r.status == 200} >= set(standin_api.ENDPOINTS)
    assert {r.status for r in responses} == {200, 400, 404}
    failures = []
    for recorded in responses:
        try:
            validate_response(recorded.path, recorded.status, recorded.body)
        except SpecViolationError as exc:
            failures.append(str(exc))
    assert failures == []
    assert len(deliveries) >= 5
    for delivery in deliveries:
        validate_webhook(json.loads(delivery.raw_body))


def test_validate_response_rejects_what_the_spec_does_not_allow() -> None:
    account = {
        "account_id": "a1",
        "balances": {"available": None, "current": 1.0, "limit": None,
                     "iso_currency_code": "USD", "unofficial_currency_code": None},
        "mask": None, "name": "Card", "official_name": None, "type": "credit",
        "subtype": "credit card",
    }  # fmt: skip
    good = {"transactions_update_status": "HISTORICAL_UPDATE_COMPLETE", "accounts": [account],
            "added": [], "modified": [], "removed": [], "next_cursor": "c", "has_more": False,
            "request_id": "r"}  # fmt: skip
    validate_response("/transactions/sync", 200, good)  # nullable fields accept null

    for broken in (
        {k: v for k, v in good.items() if k != "next_cursor"},
        {**good, "has_more": "no"},
        {**good, "accounts": [{**account, "type": "card"}]},
        {**good, "accounts": [{**account, "name": None}]},
        {**good, "removed": [{"transaction_id": "t"}]},
    ):
        with pytest.raises(SpecViolationError):
            validate_response("/transactions/sync", 200, broken)
    with pytest.raises(SpecViolationError):
        validate_response("/item/get", 400, {"error_type": "NOPE", "error_code": "X"})


def test_strict_mode_turns_an_off_spec_response_into_a_recorded_violation(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    broken = standin_api.Endpoint(
        lambda services, body: {"link_token": "link-sandbox-x"}, {}, {}, allow_unknown=True
    )
    monkeypatch.setitem(standin_api.ENDPOINTS, "/link/token/create", broken)
    with pytest.raises(SpecViolationError), PlaidStandin(strict=True) as server:
        client = make_client(server)
        with pytest.raises(plaid.ApiException) as caught:
            client.link_token_create(
                LinkTokenCreateRequest(
                    client_name="x",
                    language="en",
                    country_codes=[CountryCode("US")],
                    user=LinkTokenCreateRequestUser(client_user_id="u"),
                )
            )
        client.api_client.close()
        assert caught.value.status == 500
        [violation] = server.violations
        assert "LinkTokenCreateResponse" in violation.where
        assert any("expiration" in problem for problem in violation.problems)


def test_spec_location_comes_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    assert spec_path().name == "plaid-2020-09-14.yml"
    assert spec_path().parent.parent.parent == repo_root().parent
    monkeypatch.setenv("CLO_PLAID_SPEC", str(tmp_path / "missing.yml"))
    assert spec_path() == tmp_path / "missing.yml"
    with pytest.raises(FileNotFoundError, match="CLO_PLAID_SPEC"):
        load_spec()
