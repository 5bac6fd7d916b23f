"""Limits before work: bodies refused by size as they stream, authentication before any body
is parsed or scanned, the scan off the event loop, failed authentication rate-limited, and
unknown Plaid key ids costing a bounded number of calls to Plaid."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Coroutine
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import plaid
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

import service.routing
from service.app import create_app
from service.auth import Role
from service.config import Settings
from service.plaid.webhook import KeyCache, WebhookRefused
from service.problems import TooManyRequests
from service.security.body_limit import BodySizeLimit
from tests.service.api_client import FEED_KEYS, PAN, api_for, bearer, issue_key


async def _drive(app, scope: dict, chunks: list[bytes]) -> tuple[int, int]:
    """Run one request through `app`; (status, how many body chunks it read)."""
    read = 0
    sent: list[dict] = []

    async def receive():
        nonlocal read
        if read < len(chunks):
            read += 1
            return {
                "type": "http.request",
                "body": chunks[read - 1],
                "more_body": read < len(chunks),
            }
        return {"type": "http.disconnect"}

    async def send(message):
        sent.append(message)

    await app(scope, receive, send)
    return next(m["status"] for m in sent if m["type"] == "http.response.start"), read


def _scope(path: str, headers: list[tuple[bytes, bytes]]) -> dict:
    return {
        "type": "http",
        "method": "POST",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "headers": headers,
        "client": ("10.0.0.1", 1234),
        "server": ("test", 80),
        "scheme": "http",
        "root_path": "",
        "http_version": "1.1",
        "app": None,
    }


T = TypeVar("T")


def run_in_own_loop(coroutine: Coroutine[Any, Any, T]) -> T:
    """asyncio.run in a thread of its own: a browser test on the same worker may keep an
    event loop running in this thread."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


def test_a_body_is_refused_by_size_as_it_streams_in(engine: Engine) -> None:
    settings = Settings(
        environment="test", feed_signing_keys=FEED_KEYS, max_request_body_bytes=10_000
    )
    app = create_app(engine=engine, settings=settings)
    token = issue_key(engine, role=Role.PUBLISHER)
    auth = (b"authorization", f"Bearer {token}".encode())
    chunk = b" " * 1_000
    # Declared too long: refused before a byte is read.
    declared = _scope("/v1/members", [auth, (b"content-length", b"50000000")])
    assert run_in_own_loop(_drive(app, declared, [chunk] * 100)) == (413, 0)
    # Not declared (chunked): refused as soon as it passes the limit, not after 100 chunks.
    status, read = run_in_own_loop(_drive(app, _scope("/v1/members", [auth]), [chunk] * 100))
    assert (status, read) == (413, 11)
    # The limit is per route family: the feed webhook takes larger batches.
    middleware = BodySizeLimit(app, default_bytes=10, by_path_prefix={"/v1/feeds/": 99})
    assert (middleware.limit_for("/v1/feeds/network/events"), middleware.limit_for("/v1/x")) == (
        99,
        10,
    )


def test_authentication_comes_before_the_body_is_parsed_or_scanned(
    engine: Engine, monkeypatch
) -> None:
    scanned: list[bytes] = []
    real = service.routing.scan_body

    def scan_body(body: bytes, content_type: str | None) -> None:
        scanned.append(body)
        real(body, content_type)

    monkeypatch.setattr(service.routing, "scan_body", scan_body)
    with api_for(engine) as api:
        for body in (b"{not json", json.dumps({"display_name": PAN}).encode()):
            for headers in ({}, {"Authorization": "Bearer ck_0000000000000000.wrong"}):
                resp = api.client.post("/v1/members", content=body, headers=headers)
                assert resp.status_code == 401, resp.text
        assert scanned == []
        resp = api.client.post("/v1/members", content=b"{not json", headers=api.publisher)
        assert resp.status_code == 422 and len(scanned) == 1


def test_the_card_number_scan_runs_off_the_event_loop(engine: Engine, monkeypatch) -> None:
    """So a large body being scanned never holds up other requests (/healthz included)."""
    threads: list[tuple[str, bool]] = []
    real = service.routing.find_card_number_field

    def noting(*args, **kw):
        try:
            asyncio.get_running_loop()
            on_loop = True
        except RuntimeError:
            on_loop = False
        threads.append((threading.current_thread().name, on_loop))
        return real(*args, **kw)

    monkeypatch.setattr(service.routing, "find_card_number_field", noting)
    with api_for(engine) as api:
        big = {"display_name": "x", "email": None, "external_ref": "r" * 100}
        assert api.post("/v1/members", api.publisher, big).status_code == 201
        assert api.client.get("/healthz").status_code == 200
    assert threads and not any(on_loop for _name, on_loop in threads)


def test_failed_authentication_is_rate_limited_per_key_id_and_per_address(engine: Engine) -> None:
    settings = Settings(
        environment="test",
        feed_signing_keys=FEED_KEYS,
        auth_failures_per_key="3/minute",
        auth_failures_per_address="5/minute",
    )
    good = issue_key(engine, role=Role.FINANCE)
    key_id = good.partition(".")[0]
    with TestClient(create_app(engine=engine, settings=settings)) as client:

        def get(token: str):
            return client.get("/v1/settlements/runs", headers=bearer(token))

        assert [get(f"{key_id}.guess{i}").status_code for i in range(3)] == [401] * 3
        blocked = get(f"{key_id}.guess3")
        assert blocked.status_code == 429
        assert int(blocked.headers["Retry-After"]) >= 1
        assert blocked.json()["errors"][0]["reason"] == "too_many_failed_authentications"
        # Guessing stops for that key id, even with its right secret...
        assert get(good).status_code == 429
        # ...and after five failures in all, for every key id tried from this address.
        assert [get(f"ck_{i:016x}.x").status_code for i in range(3)] == [401, 401, 429]
        assert client.get("/healthz").status_code == 200


class _UnknownKids:
    """A Plaid client that knows no webhook key: counts what it is asked."""

    def __init__(self) -> None:
        self.calls = 0

    def webhook_verification_key_get(self, _request):
        self.calls += 1
        raise plaid.ApiException(status=400, reason="INVALID_INPUT")


def test_unknown_plaid_key_ids_cost_a_bounded_number_of_fetches() -> None:
    client = _UnknownKids()
    keys = KeyCache(client, fetches_per_minute=5)
    for _ in range(20):  # the same unknown kid: fetched once, then remembered
        with pytest.raises(WebhookRefused):
            keys.get("kid-unknown")
    assert client.calls == 1
    refused = {"unknown": 0, "limited": 0}
    for i in range(200):  # ever new kids: a few fetches, then 429 without calling Plaid
        try:
            keys.get(f"kid-{i}")
        except WebhookRefused:
            refused["unknown"] += 1
        except TooManyRequests as exc:
            assert exc.headers == {"Retry-After": "60"}
            refused["limited"] += 1
    assert client.calls == 5
    assert refused == {"unknown": 4, "limited": 196}


def test_refused_webhook_signatures_count_against_the_address(engine: Engine) -> None:
    settings = Settings(
        environment="test",
        feed_signing_keys=FEED_KEYS,
        stripe_webhook_secret="whsec_limits_0123456789abcdef",
        auth_failures_per_address="4/minute",
    )
    with TestClient(create_app(engine=engine, settings=settings)) as client:
        forged = {"Stripe-Signature": "t=1,v1=00", "Content-Type": "application/json"}
        answers = [
            client.post("/v1/webhooks/stripe", content=b"{}", headers=forged).status_code
            for _ in range(5)
        ]
        assert answers == [401, 401, 401, 401, 429]
        # The address is cut off for bearer credentials too.
        assert (
            client.get("/v1/charities", headers=bearer("ck_0000000000000000.x")).status_code == 429
        )
