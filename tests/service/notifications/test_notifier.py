"""The notifier reads the outbox and tells members what they earned, once.

Worked example: Blue Bottle, 5% back, 20% commission. An auth of $40.00 earns 200 (pending):
"You earned $2.00 at Blue Bottle". Its clearing posts the same reward: nothing new is told.
"""

from __future__ import annotations

from datetime import timedelta

from service.notifications.dispatch import dispatch_due
from service.notifications.notifier import OutboxConsumer
from service.notifications.tables import NotificationPreference
from settlement.outbox import OutboxEventType, record_outbox_event
from tests.service.notifications.world import (
    deliveries,
    notifications,
    notify_settings,
    titles,
    world_with_members,
)
from tests.service.pipeline_world import T0

NOW = T0 + timedelta(seconds=2)


def test_a_purchase_on_an_offer_tells_the_member_what_they_earned(engine, smtp):
    world = world_with_members(engine)
    world.ingest(world.event(card=1, amount=4_000, ext="a1"))
    world.ingest(world.event("clearing", card=1, amount=4_000, ext="c1", original="a1"))

    OutboxConsumer(engine).consume(NOW)

    assert titles(engine) == ["You earned $2.00 at Blue Bottle"]
    [told] = notifications(engine)
    assert (told.member_id, told.kind, told.amount_minor, told.currency) == (
        1,
        "cashback_earned",
        200,
        "USD",
    )
    assert deliveries(engine) == [(told.id, "email", "pending")]

    result = dispatch_due(engine, notify_settings(smtp.port), NOW)
    assert result.sent == 1
    [mail] = smtp.wait_for(1)
    assert mail.envelope_to == ("m1@example.com",)
    assert mail.message["Subject"] == "You earned $2.00 at Blue Bottle"
    assert mail.message["List-Unsubscribe"].startswith("<https://cash.example/app/unsubscribe/")
    assert deliveries(engine) == [(told.id, "email", "sent")]
    # Sent once: a second dispatch finds nothing due.
    assert dispatch_due(engine, notify_settings(smtp.port), NOW).sent == 0
    assert len(smtp.received) == 1


def test_norwegian_members_read_it_in_norwegian_with_norwegian_money(engine, smtp):
    world = world_with_members(engine)
    with engine.begin() as conn:
        conn.execute(
            NotificationPreference.__table__.insert().values(
                member_id=1, in_app=True, email=True, push=False, language="nb",
                timezone="Europe/Oslo", updated_at=T0,
            )
        )  # fmt: skip
    world.ingest(world.event(card=1, amount=4_000, ext="a1"))
    OutboxConsumer(engine).consume(NOW)

    # Babel writes USD in Norwegian as "2,00 USD" (a no-break space before the code).
    assert titles(engine, "nb") == ["Du fikk 2,00\xa0USD i bonus hos Blue Bottle"]
    dispatch_due(engine, notify_settings(smtp.port), NOW)
    [mail] = smtp.wait_for(1)
    assert mail.message["Subject"] == "Du fikk 2,00\xa0USD i bonus hos Blue Bottle"
    assert "Slå dem av: https://cash.example/app/unsubscribe/" in mail.message.get_content()


def test_available_cashback_and_a_paid_payout_are_told(engine):
    world_with_members(engine)
    with engine.begin() as conn:
        record_outbox_event(
            conn, OutboxEventType.REWARD_AVAILABLE, occurred_at=T0, now=T0, member_id=1,
            merchant_id=1, offer_id=10, reward_id=99, amount_minor=150, currency="USD",
        )  # fmt: skip
        record_outbox_event(
            conn, OutboxEventType.PAYOUT_PAID, occurred_at=T0, now=T0, member_id=1,
            amount_minor=2_500, currency="USD", data={"payout_id": 7},
        )  # fmt: skip
        # Not for members: nothing is told.
        record_outbox_event(
            conn, OutboxEventType.OFFER_PUBLISHED, occurred_at=T0, now=T0, merchant_id=1,
            offer_id=10,
        )  # fmt: skip
    OutboxConsumer(engine).consume(NOW)
    assert titles(engine) == [
        "$1.50 cashback from Blue Bottle is now available",
        "$25.00 is on its way to your bank account",
    ]


def test_a_member_who_turned_everything_off_is_told_nothing(engine):
    world = world_with_members(engine)
    with engine.begin() as conn:
        conn.execute(
            NotificationPreference.__table__.insert().values(
                member_id=1, in_app=False, email=False, push=False, timezone="UTC",
                updated_at=T0,
            )
        )  # fmt: skip
    world.ingest(world.event(card=1, amount=4_000, ext="a1"))
    OutboxConsumer(engine).consume(NOW)
    assert notifications(engine) == []


def test_email_off_keeps_the_in_app_notification_only(engine):
    world = world_with_members(engine)
    with engine.begin() as conn:
        conn.execute(
            NotificationPreference.__table__.insert().values(
                member_id=1, in_app=True, email=False, push=False, timezone="UTC",
                updated_at=T0,
            )
        )  # fmt: skip
    world.ingest(world.event(card=1, amount=4_000, ext="a1"))
    OutboxConsumer(engine).consume(NOW)
    assert len(notifications(engine)) == 1
    assert deliveries(engine) == []


def test_email_turned_off_after_the_notification_was_made_is_never_sent(engine, smtp):
    world = world_with_members(engine)
    world.ingest(world.event(card=1, amount=4_000, ext="a1"))
    OutboxConsumer(engine).consume(NOW)
    with engine.begin() as conn:
        conn.execute(
            NotificationPreference.__table__.insert().values(
                member_id=1, in_app=True, email=False, push=False, timezone="UTC",
                updated_at=T0,
            )
        )  # fmt: skip
    result = dispatch_due(engine, notify_settings(smtp.port), NOW)
    assert (result.sent, result.dropped) == (0, 1)
    assert smtp.received == []


def test_an_smtp_server_that_is_down_is_retried_later(engine, smtp):
    world = world_with_members(engine)
    world.ingest(world.event(card=1, amount=4_000, ext="a1"))
    OutboxConsumer(engine).consume(NOW)
    down = notify_settings(1)  # nothing listens on port 1
    result = dispatch_due(engine, down, NOW)
    assert result.failed == 1 and next(iter(result.errors)).startswith("smtp_unavailable")
    assert deliveries(engine)[0][2] == "pending"
    # Not due again at once; due after the retry delay (30 s), and then sent.
    assert dispatch_due(engine, notify_settings(smtp.port), NOW).sent == 0
    assert dispatch_due(engine, notify_settings(smtp.port), NOW + timedelta(seconds=31)).sent == 1
    assert len(smtp.wait_for(1)) == 1
