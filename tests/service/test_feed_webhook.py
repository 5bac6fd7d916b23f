"""The signed network webhook: signatures, replay window, limits, per-event results."""

from __future__ import annotations

import json
import time

import pytest
from fastapi.testclient import TestClient

from service.app import create_app
from service.config import Settings
from service.feeds.signing import sign, signed_headers
from tests.service.pipeline_world import PipelineWorld

KEYS = {"k1": "k1-secret-for-tests-only-000000000", "k2": "k2-secret-for-tests-only-111111111"}


@pytest.fixture
def client(engine):
    world = PipelineWorld(engine)
    world.member(member_id=1)
    world.offer(offer_id=10)
    settings = Settings(environment="test", feed_signing_keys=KEYS)
    with TestClient(create_app(engine=engine, settings=settings)) as c:
        c.world = world
        yield c


def post(client, events, *, key_id="k1", secret=None, ts=None, skew=0, body=None, signature=None):
    raw = body if body is not None else json.dumps({"events": events}).encode()
    ts = int(time.time()) + skew if ts is None else ts
    headers = signed_headers(key_id, secret or KEYS[key_id], raw, now_unix=ts)
    if signature is not None:
        headers["X-CLO-Signature"] = signature
    return client.post(
        "/v1/feeds/network/events",
        content=raw,
        headers={**headers, "Content-Type": "application/json"},
    )


def test_signed_batch_is_accepted_with_a_result_per_event(client):
    w = client.world
    bad = w.event(card=1, amount=1, ext="bad")
    bad["kind"] = "chargeback"
    resp = post(client, [w.event(card=1, amount=4_000, ext="a1"), bad])
    assert resp.status_code == 200
    body = resp.json()
    assert (body["accepted"], body["rejected"]) == (1, 1)
    assert body["results"][0]["outcome"] == "rewarded"
    assert body["results"][0]["reward_amount"] == 200
    assert body["results"][1]["reason"] == "invalid_kind"


def test_duplicate_webhook_returns_the_first_result(client):
    events = [client.world.event(card=1, amount=4_000, ext="a1")]
    first = post(client, events).json()["results"][0]
    again = post(client, events).json()
    assert again["duplicate"] == 1
    assert again["results"][0]["event_id"] == first["event_id"]
    assert again["results"][0]["reward_amount"] == 200


@pytest.mark.parametrize(
    ("kwargs", "field", "reason"),
    [
        ({"key_id": "nope", "secret": KEYS["k1"]}, "X-CLO-Key-Id", "unknown_key"),
        ({"secret": "wrong"}, "X-CLO-Signature", "bad_signature"),
        ({"skew": -301}, "X-CLO-Timestamp", "stale_timestamp"),
        # 302: the server reads its clock a moment later; a second ticking over in between
        # must not bring a timestamp 301 s ahead back inside the window.
        ({"skew": 302}, "X-CLO-Timestamp", "stale_timestamp"),
    ],
)
def test_bad_signatures_are_refused_without_side_effects(client, kwargs, field, reason):
    resp = post(client, [client.world.event(card=1, amount=4_000)], **kwargs)
    assert resp.status_code == 401
    assert resp.headers["content-type"].startswith("application/problem+json")
    assert resp.json()["errors"][0] == {"field": field, "reason": reason}
    assert client.world.balances() == {}


def test_a_reformatted_body_fails_the_signature(client):
    events = [client.world.event(card=1, amount=4_000)]
    raw = json.dumps({"events": events}).encode()
    ts = int(time.time())
    sig = sign(KEYS["k1"], ts, raw)
    resp = post(
        client, events, ts=ts, signature=sig, body=json.dumps({"events": events}, indent=2).encode()
    )
    assert resp.status_code == 401


def test_rotation_accepts_either_signature_in_the_header(client):
    events = [client.world.event(card=1, amount=4_000)]
    raw = json.dumps({"events": events}).encode()
    ts = int(time.time())
    both = f"{sign('retired-secret', ts, raw)}, {sign(KEYS['k1'], ts, raw)}"
    assert post(client, events, ts=ts, signature=both).status_code == 200


def test_more_than_1000_events_is_refused_naming_the_field(client):
    events = [client.world.event(card=1, amount=100) for _ in range(1001)]
    resp = post(client, events)
    assert resp.status_code == 422
    assert resp.json()["errors"][0] == {"field": "events", "reason": "too_many_events"}


@pytest.mark.parametrize("raw", [b"not json", b"[]", b'{"events": "x"}'])
def test_malformed_bodies_get_a_problem_document(client, raw):
    resp = post(client, [], body=raw)
    assert resp.status_code == 422
    assert resp.headers["content-type"].startswith("application/problem+json")


def test_forged_signatures_are_limited_per_key_id_then_answered_429(client):
    # Ten refused signatures for key k1 within a minute; the eleventh attempt is refused before
    # its body is read or its signature checked, with Retry-After, and signs nothing in.
    events = [client.world.event(card=1, amount=4_000, ext="a1")]
    statuses = [post(client, events, secret="not-the-secret").status_code for _ in range(10)]
    assert statuses == [401] * 10
    resp = post(client, events)  # even correctly signed: the key id is cut off for now
    assert resp.status_code == 429
    assert int(resp.headers["Retry-After"]) >= 1
    assert resp.json()["errors"][0]["reason"] == "too_many_failed_authentications"
    assert client.world.balances() == {}
