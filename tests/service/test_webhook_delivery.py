"""Partner webhooks end to end: outbox -> fan-out -> signed, ordered sends to a real receiver.

The receiver is a real HTTP server on 127.0.0.1 that checks signatures with the inbound
feed's helper and drops duplicate event ids. Time is an argument: every pass gets `now`,
and the receiver's clock follows it.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, select

from service.auth import Role
from service.config import Settings
from service.webhooks.delivery import Deliverer, _claim, _release, retry_delay_s
from service.webhooks.fanout import fan_out
from service.webhooks.tables import WebhookDelivery
from service.webhooks.worker import deliver_pass
from settlement.outbox import OutboxEventType, public_event_id, record_outbox_event
from tests.service.api_client import TEST_ENCRYPTION_KEY, Api, api_for
from tests.service.webhook_receiver import Receiver

T0 = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
SETTINGS = Settings(
    environment="test",
    encryption_keys=[TEST_ENCRYPTION_KEY],
    webhook_allow_local_http=True,
    webhook_timeout_seconds=2.0,
)


@dataclass
class Clock:
    now: datetime = T0

    def unix(self) -> int:
        return int(self.now.timestamp())


@dataclass
class World:
    api: Api
    engine: Engine
    clock: Clock
    receiver: Receiver
    deliverer: Deliverer
    members: dict[str, int] = field(default_factory=dict)

    def endpoint(self, headers: dict, types: list[str], *, url: str | None = None) -> dict:
        body = {"url": url or self.receiver.url, "event_types": types}
        resp = self.api.post("/v1/webhook-endpoints", headers, body)
        assert resp.status_code == 201, resp.text
        created = resp.json()
        self.receiver.secrets[created["key_id"]] = created["secret"]
        return created

    def tell(self, type_: OutboxEventType, *, member: str | None = None, **facts) -> str:
        """Write one outbox event as the domain would; its public id."""
        with self.engine.begin() as conn:
            record_outbox_event(
                conn,
                type_,
                occurred_at=self.clock.now,
                now=self.clock.now,
                member_id=self.members[member] if member else None,
                **facts,
            )
            from settlement.outbox import OutboxEvent

            t = OutboxEvent.__table__
            last = conn.execute(select(t.c.id).order_by(t.c.id.desc()).limit(1)).scalar_one()
        return public_event_id(last)

    def reward(self, member: str, amount: int) -> str:
        return self.tell(
            OutboxEventType.REWARD_PENDING,
            member=member,
            offer_id=7,
            merchant_id=3,
            reward_id=amount,
            amount_minor=amount,
            currency="USD",
        )

    def run(self, *, at: datetime | None = None):
        if at is not None:
            self.clock.now = at
        return deliver_pass(self.engine, self.deliverer, self.clock.now)


@pytest.fixture
def world(engine: Engine) -> Iterator[World]:
    clock = Clock()
    receiver = Receiver(secrets={}, clock=clock.unix).start()
    deliverer = Deliverer(engine, SETTINGS)
    with api_for(engine, webhook_allow_local_http=True) as api:
        w = World(api, engine, clock, receiver, deliverer)
        publisher_b = api.key(Role.PUBLISHER)
        for name, headers in (("a", api.publisher), ("b", publisher_b)):
            resp = api.post("/v1/members", headers, {"display_name": f"Member {name}"})
            assert resp.status_code == 201, resp.text
            w.members[name] = resp.json()["member"]["id"]
        w.api.publisher_b = publisher_b  # type: ignore[attr-defined]
        try:
            yield w
        finally:
            receiver.stop()
            deliverer.close()


def test_every_event_arrives_in_order_after_the_receiver_comes_back(world: World):
    admin = world.endpoint(world.api.admin, ["*"])
    mine = world.endpoint(world.api.publisher, ["reward.pending", "offer.published"])
    expected_admin, expected_mine = [], []
    for n in range(1, 11):
        evt = world.reward("a", n * 100)
        expected_admin.append(evt)
        expected_mine.append(evt)
    world.run()
    assert world.receiver.events(mine["key_id"]) == expected_mine

    world.receiver.stop()  # the partner goes down mid-stream
    for n in range(11, 21):
        evt = (
            world.reward("a", n * 100)
            if n % 3
            else world.tell(
                OutboxEventType.OFFER_PUBLISHED, offer_id=n, merchant_id=3, data={"status": "live"}
            )
        )
        expected_admin.append(evt)
        expected_mine.append(evt)
    result = world.run(at=T0 + timedelta(seconds=5))
    assert result.tally.sent == 0 and result.tally.failed == 2  # one head per endpoint, blocked

    world.receiver.start()  # back, on the same port
    # The head's next attempt is at most the backoff cap away; a pass after it sends the rest.
    world.run(at=T0 + timedelta(seconds=5 + SETTINGS.webhook_retry_max_delay_seconds))
    assert world.receiver.events(mine["key_id"]) == expected_mine
    assert world.receiver.events(admin["key_id"]) == expected_admin
    for key_id in (mine["key_id"], admin["key_id"]):
        sequences = [a.sequence for a in world.receiver.arrivals if a.key_id == key_id]
        assert sequences == sorted(sequences)  # never out of order
    assert world.receiver.refused == []


def test_a_lost_answer_means_the_same_event_again_which_the_receiver_drops(world: World):
    ep = world.endpoint(world.api.publisher, ["reward.pending"])
    first = world.reward("a", 100)
    world.receiver.answer_status = 500  # processed, but the answer says otherwise
    world.run()
    world.receiver.answer_status = 200
    second = world.reward("a", 200)
    world.run(at=T0 + timedelta(seconds=SETTINGS.webhook_retry_max_delay_seconds))
    ids = [a.event_id for a in world.receiver.arrivals]
    assert ids == [first, first, second]
    assert world.receiver.events(ep["key_id"]) == [first, second]
    assert world.receiver.arrivals[0].body == world.receiver.arrivals[1].body


def test_a_publisher_receives_its_own_members_and_offer_events_only(world: World):
    mine = world.endpoint(world.api.publisher, ["*"])
    theirs = world.endpoint(world.api.publisher_b, ["*"])  # type: ignore[attr-defined]
    a_reward = world.reward("a", 100)
    b_reward = world.reward("b", 200)
    offer = world.tell(OutboxEventType.OFFER_ENDED, offer_id=9, merchant_id=3)
    closed = world.tell(
        OutboxEventType.SETTLEMENT_CLOSED,
        data={"run_id": 1, "period": "2026-W48", "total_amount_minor": 500},
    )
    card = world.tell(
        OutboxEventType.CARD_LINKED, member="b", data={"card_id": 4, "provider": "stripe"}
    )
    world.run()
    assert world.receiver.events(mine["key_id"]) == [a_reward, offer]
    assert world.receiver.events(theirs["key_id"]) == [b_reward, offer, card]
    assert closed not in world.receiver.events()


def test_the_payload_is_the_documented_envelope(world: World):
    ep = world.endpoint(world.api.publisher, ["reward.pending"])
    evt = world.reward("a", 250)
    world.run()
    (arrival,) = world.receiver.arrivals
    assert arrival.key_id == ep["key_id"] and arrival.sequence == 1
    assert arrival.body == {
        "id": evt,
        "type": "reward.pending",
        "created": int(T0.timestamp()),
        "schema_version": 1,
        "data": {
            "occurred_at": "2026-11-30T12:00:00Z",
            "member_id": world.members["a"],
            "reward_id": 250,
            "offer_id": 7,
            "merchant_id": 3,
            "amount_minor": 250,
            "currency": "USD",
        },
    }


def test_failures_back_off_for_three_days_then_disable_and_enabling_resumes(world: World):
    ep = world.endpoint(world.api.publisher, ["reward.pending"])
    events = [world.reward("a", n) for n in (100, 200, 300)]
    world.receiver.answer_status = 503
    world.run()
    attempts_at = [T0]
    while True:
        head = _head_row(world.engine, ep["id"])
        if head.attempts >= 60:
            pytest.fail("the endpoint never gave up")
        status = world.api.get(f"/v1/webhook-endpoints/{ep['id']}", world.api.publisher).json()
        if status["status"] == "disabled":
            break
        next_at = head.next_attempt_at.replace(tzinfo=UTC)
        assert next_at >= world.clock.now  # never before the last attempt
        world.run(at=next_at)
        attempts_at.append(next_at)
    # Retried until three days had passed since the first failure, then given up.
    assert attempts_at[-1] - T0 == timedelta(days=3)
    assert "failed for 3 days" in status["disabled_reason"]
    assert status["pending_deliveries"] == 3
    assert {a.event_id for a in world.receiver.arrivals} == {events[0]}  # the head blocked

    world.receiver.answer_status = 200
    later = T0 + timedelta(days=4)
    world.run(at=later)  # disabled: nothing is sent
    assert world.receiver.events() == [events[0]]
    resp = world.api.patch(
        f"/v1/webhook-endpoints/{ep['id']}", world.api.publisher, {"enabled": True}
    )
    assert resp.json()["status"] == "enabled" and resp.json()["disabled_reason"] is None
    world.run(at=datetime.now(UTC) + timedelta(seconds=1))
    assert world.receiver.events(ep["key_id"]) == events


def _head_row(engine: Engine, endpoint_id: int):
    t = WebhookDelivery.__table__
    with engine.connect() as conn:
        return conn.execute(
            select(t)
            .where(t.c.endpoint_id == endpoint_id, t.c.status == "pending")
            .order_by(t.c.sequence)
            .limit(1)
        ).one()


def test_a_rotated_secret_signs_beside_the_old_one_for_a_day(world: World):
    ep = world.endpoint(world.api.publisher, ["reward.pending"])
    old_secret = world.receiver.secrets[ep["key_id"]]
    resp = world.api.post(f"/v1/webhook-endpoints/{ep['id']}/rotate-secret", world.api.publisher)
    assert resp.status_code == 200, resp.text
    rotated = resp.json()
    assert rotated["key_id"] == ep["key_id"] and rotated["secret"] != old_secret
    now = datetime.now(UTC)
    first = world.reward("a", 100)
    world.run(at=now)  # the partner still has only the old secret: accepted
    assert world.receiver.events() == [first]
    assert world.receiver.arrivals[0].signatures.count("v1=") == 2

    second = world.reward("a", 200)
    world.run(at=now + timedelta(hours=25))  # the old secret stopped signing
    assert world.receiver.refused == ["bad_signature"]
    world.receiver.secrets[ep["key_id"]] = rotated["secret"]
    world.run(at=now + timedelta(hours=25) + timedelta(seconds=30 * 2))
    world.run(at=now + timedelta(hours=26))
    assert world.receiver.events() == [first, second]
    assert world.receiver.arrivals[-1].signatures.count("v1=") == 1


def test_replay_requeues_in_order_within_the_callers_scope(world: World):
    mine = world.endpoint(world.api.publisher, ["reward.pending"])
    theirs = world.endpoint(world.api.publisher_b, ["reward.pending"])  # type: ignore[attr-defined]
    a1, a2, a3 = (world.reward("a", n) for n in (100, 200, 300))
    b1 = world.reward("b", 400)
    world.run()
    base = f"/v1/webhook-endpoints/{mine['id']}/replay"
    resp = world.api.post(base, world.api.publisher, {"since_event_id": a2})
    assert resp.status_code == 202, resp.text
    assert resp.json() == {"queued": 2, "first_sequence": 4, "last_sequence": 5}
    resp = world.api.post(base, world.api.publisher, {"event_id": a1})
    assert resp.json()["queued"] == 1
    # Another publisher's member's event is not there for this endpoint.
    resp = world.api.post(base, world.api.publisher, {"event_id": b1})
    assert resp.status_code == 404 and resp.json()["errors"][0]["field"] == "event_id"
    # Nor is another publisher's endpoint.
    resp = world.api.post(
        f"/v1/webhook-endpoints/{theirs['id']}/replay", world.api.publisher, {"event_id": b1}
    )
    assert resp.status_code == 404
    resp = world.api.post(base, world.api.publisher, {"event_id": a1, "since_event_id": a1})
    assert resp.status_code == 422 and resp.json()["errors"][0]["field"] == "event_id"
    world.run(at=datetime.now(UTC) + timedelta(seconds=1))
    replayed = [a.event_id for a in world.receiver.arrivals if a.key_id == mine["key_id"]]
    assert replayed == [a1, a2, a3, a2, a3, a1]


def test_an_address_that_turns_private_after_registration_is_not_called(world: World, monkeypatch):
    # At registration the name resolves to a public address (no DNS server here: the
    # system resolver answers as one would)...
    public = [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("93.184.215.14", 443))]
    monkeypatch.setattr(socket, "getaddrinfo", lambda *a, **k: public)
    ep = world.endpoint(world.api.admin, ["*"], url="https://hooks.partner.test/in")
    monkeypatch.undo()
    strict = Settings(environment="test", encryption_keys=[TEST_ENCRYPTION_KEY])
    calls: list[str] = []

    def rebinding(host: str, port: int) -> list[str]:  # ...and then to an inner one
        calls.append(host)
        return ["10.0.0.7"]

    deliverer = Deliverer(world.engine, strict, resolver=rebinding)
    world.reward("a", 100)
    fan_out(world.engine, T0)
    tally = deliverer.deliver_due(T0)
    deliverer.close()
    assert tally.failed == 1 and calls == ["hooks.partner.test"]
    head = _head_row(world.engine, ep["id"])
    assert head.last_error.startswith("address refused") and head.last_status_code is None


def test_one_worker_at_a_time_holds_an_endpoint(world: World):
    ep = world.endpoint(world.api.publisher, ["*"])
    token = _claim(world.engine, ep["id"], T0)
    assert token is not None
    assert _claim(world.engine, ep["id"], T0) is None  # held
    world.reward("a", 100)
    fan_out(world.engine, T0)
    assert world.deliverer.deliver_due(T0).sent == 0  # the other worker skips it
    _release(world.engine, ep["id"], token)
    assert world.deliverer.deliver_due(T0).sent == 1


@pytest.mark.parametrize("failures", [1, 2, 5, 10, 30])
def test_retry_delays_are_full_jitter_under_a_doubling_cap(failures: int):
    """30 s base, 6 h cap: after the 1st failure up to 30 s; the 2nd up to 60 s; the 5th up
    to 480 s; the 10th up to 15,360 s; from the 11th on up to 6 h (30,720 s would pass it)."""
    cap = {1: 30.0, 2: 60.0, 5: 480.0, 10: 15_360.0, 30: 21_600.0}[failures]
    delays = [retry_delay_s(failures, SETTINGS) for _ in range(200)]
    assert all(0 <= d <= cap for d in delays)
    assert max(delays) > cap / 2  # spread over the range, not a fixed step


def test_clo_deliver_once_fans_out_and_sends(world: World, db_url: str, monkeypatch, capsys):
    from service.cli import main
    from service.config import get_settings

    ep = world.endpoint(world.api.publisher, ["reward.pending"])
    evt = world.reward("a", 100)
    monkeypatch.setenv("CLO_ENVIRONMENT", "test")
    monkeypatch.setenv("CLO_ENCRYPTION_KEYS", f'["{TEST_ENCRYPTION_KEY}"]')
    monkeypatch.setenv("CLO_WEBHOOK_ALLOW_LOCAL_HTTP", "true")
    get_settings.cache_clear()
    world.clock.now = datetime.now(UTC)  # the command sends at the wall clock's time
    try:
        with pytest.raises(SystemExit) as exited:
            main(["deliver", "--once", "--database", db_url])
    finally:
        get_settings.cache_clear()
    assert exited.value.code == 0
    assert "1 events fanned out (1 queued); 1 sent, 0 failed" in capsys.readouterr().out
    assert world.receiver.events(ep["key_id"]) == [evt]


def test_a_new_endpoint_starts_at_its_creation_and_replay_reaches_back(world: World):
    before = world.reward("a", 100)  # written, not yet fanned out, before the endpoint
    ep = world.endpoint(world.api.publisher, ["reward.pending"])
    after = world.reward("a", 200)
    world.run()
    assert world.receiver.events(ep["key_id"]) == [after]
    resp = world.api.post(
        f"/v1/webhook-endpoints/{ep['id']}/replay", world.api.publisher, {"event_id": before}
    )
    assert resp.status_code == 202 and resp.json()["queued"] == 1
    world.run(at=datetime.now(UTC) + timedelta(seconds=1))
    assert world.receiver.events(ep["key_id"]) == [after, before]


def test_an_endpoint_its_owner_disables_stops_sending_until_enabled(world: World):
    ep = world.endpoint(world.api.publisher, ["reward.pending"])
    path = f"/v1/webhook-endpoints/{ep['id']}"
    off = world.api.patch(path, world.api.publisher, {"enabled": False}).json()
    assert (off["status"], off["disabled_reason"]) == ("disabled", "disabled by its owner")
    evt = world.reward("a", 100)
    world.run()
    assert world.receiver.arrivals == [] and off["pending_deliveries"] == 0
    assert world.api.get(path, world.api.publisher).json()["pending_deliveries"] == 1
    world.api.patch(path, world.api.publisher, {"enabled": True})
    world.run(at=datetime.now(UTC) + timedelta(seconds=1))
    assert world.receiver.events() == [evt]


def test_the_fanout_waits_a_while_at_a_hole_in_the_outbox_ids(world: World):
    """PostgreSQL hands out ids before commit: a hole may be a transaction still open, so the
    fan-out waits up to 60 s before passing it; SQLite's single writer leaves no hole."""
    ep = world.endpoint(world.api.publisher, ["reward.pending"])
    first = world.reward("a", 100)
    with world.engine.connect() as conn:
        rolled_back = conn.begin()
        record_outbox_event(
            conn, OutboxEventType.REWARD_PENDING, occurred_at=T0, now=T0, member_id=1
        )
        rolled_back.rollback()
    second = world.reward("a", 200)
    on_postgres = world.engine.dialect.name == "postgresql"
    world.run(at=T0)
    assert world.receiver.events(ep["key_id"]) == ([first] if on_postgres else [first, second])
    world.run(at=T0 + timedelta(seconds=30))
    assert world.receiver.events(ep["key_id"]) == ([first] if on_postgres else [first, second])
    world.run(at=T0 + timedelta(seconds=61))
    assert world.receiver.events(ep["key_id"]) == [first, second]


def test_signing_secrets_are_encrypted_at_rest_and_follow_a_key_rotation(world: World):
    from cryptography.fernet import Fernet

    from service.security.encryption import secret_box
    from service.security.rotation import rotate_secrets
    from service.webhooks.tables import WebhookEndpoint

    ep = world.endpoint(world.api.publisher, ["reward.pending"])
    world.api.post(f"/v1/webhook-endpoints/{ep['id']}/rotate-secret", world.api.publisher)
    t = WebhookEndpoint.__table__
    with world.engine.connect() as conn:
        before = conn.execute(select(t.c.secret_encrypted, t.c.previous_secret_encrypted)).one()
    assert ep["secret"] not in before and ep["secret"] == secret_box(SETTINGS).decrypt(before[1])

    new_key = Fernet.generate_key().decode()
    both = Settings(environment="test", encryption_keys=[new_key, TEST_ENCRYPTION_KEY])
    rotate_secrets(world.engine, secret_box(both))
    only_new = secret_box(Settings(environment="test", encryption_keys=[new_key]))
    with world.engine.connect() as conn:
        after = conn.execute(select(t.c.secret_encrypted, t.c.previous_secret_encrypted)).one()
    assert only_new.decrypt(after[1]) == ep["secret"]
    assert only_new.decrypt(after[0]) == secret_box(SETTINGS).decrypt(before[0])
