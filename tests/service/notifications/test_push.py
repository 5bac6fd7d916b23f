"""Web Push through pywebpush to a push service stand-in that checks the VAPID JWT, the
headers and decrypts the payload with the browser's keys (nothing of pywebpush is faked)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlmodel import Session

from infra.standins.webpush_standin import WebPushStandin
from service.notifications import service
from service.notifications.dispatch import dispatch_due
from service.notifications.notifier import OutboxConsumer
from service.notifications.push import generate_vapid_keys
from service.notifications.schemas import PushSubscriptionIn
from service.notifications.tables import PushSubscription
from service.problems import InvalidInput
from service.tables import Member
from tests.service.notifications.world import deliveries, notify_settings, world_with_members
from tests.service.pipeline_world import T0

NOW = T0 + timedelta(seconds=1)


@pytest.fixture
def push() -> Iterator[WebPushStandin]:
    with WebPushStandin() as standin:
        yield standin


def subscribe(engine, member_id: int, body: dict, *, allow_plain_http: bool = True) -> None:
    with Session(engine) as session:
        member = session.get(Member, member_id)
        assert member is not None
        service.add_push_subscription(
            session, member, PushSubscriptionIn.model_validate(body), NOW,
            allow_plain_http=allow_plain_http,
        )  # fmt: skip


def test_cashback_earned_is_pushed_encrypted_and_signed(engine, push):
    private, public = generate_vapid_keys()
    settings = notify_settings(vapid_private_key=private, vapid_public_key=public)
    world = world_with_members(engine)
    browser = push.subscribe()
    subscribe(engine, 1, browser.as_json())
    world.ingest(world.event(card=1, amount=4_000, ext="a1"))
    OutboxConsumer(engine).consume(NOW)
    # Email waits for an SMTP host (none here); push goes now.
    assert sorted(d[1] for d in deliveries(engine)) == ["email", "push"]

    result = dispatch_due(engine, settings, NOW)
    assert (result.sent, result.failed) == (1, 0), result.errors
    [message] = push.received
    assert json.loads(message.payload) == {
        "title": "You earned $2.00 at Blue Bottle",
        "body": "It becomes available once the purchase has cleared and its hold has passed.",
        "url": "/app/activity",
    }
    assert message.vapid_public_key == public
    assert message.vapid_claims["aud"] == push.url
    assert message.vapid_claims["sub"] == "mailto:notifications@clo.example"
    assert message.ttl == 86_400
    assert push.refused == []


def test_a_subscription_the_browser_dropped_is_forgotten(engine, push):
    private, public = generate_vapid_keys()
    settings = notify_settings(vapid_private_key=private, vapid_public_key=public)
    world = world_with_members(engine)
    browser = push.subscribe()
    subscribe(engine, 1, browser.as_json())
    push.unsubscribe(browser.endpoint)
    world.ingest(world.event(card=1, amount=4_000, ext="a1"))
    OutboxConsumer(engine).consume(NOW)
    result = dispatch_due(engine, settings, NOW)
    assert result.sent == 0
    assert push.refused == [(410, "no such subscription")]
    with engine.connect() as conn:
        assert conn.execute(select(PushSubscription.__table__)).all() == []


def test_push_without_a_browser_is_not_made_and_plain_http_is_refused_in_production(engine, push):
    world = world_with_members(engine)
    world.ingest(world.event(card=1, amount=4_000, ext="a1"))
    OutboxConsumer(engine).consume(NOW)
    assert [d[1] for d in deliveries(engine)] == ["email"]  # push is off until subscribed
    with pytest.raises(InvalidInput) as refused:
        subscribe(engine, 1, push.subscribe().as_json(), allow_plain_http=False)
    assert refused.value.field == "endpoint"
