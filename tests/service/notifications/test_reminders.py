"""Reminders: an activated offer ending within three days (once per activation), and a
stamp card one visit from its reward (found from the counters a visit leaves)."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import update

from service.notifications.reminders import remind_expiring_offers, remind_stamp_cards
from service.tables import Offer
from tests.service.notifications.world import notifications, titles, world_with_members
from tests.service.pipeline_world import T0

DAY = timedelta(days=1)


def test_an_activated_offer_ending_in_three_days_is_told_once_per_activation(engine):
    world = world_with_members(engine, 1, 2)
    world.offer(offer_id=20, activation_required=True, ends_at=T0 + 3 * DAY)
    world.offer(offer_id=21, activation_required=True, ends_at=T0 + 10 * DAY)
    world.activate(1, 20, T0 - DAY)
    world.activate(1, 21, T0 - DAY)
    # Member 2 never activated offer 20: nothing to remind them of.

    assert remind_expiring_offers(engine, T0 - DAY) == 0  # four days left: not yet
    assert remind_expiring_offers(engine, T0) == 1
    assert remind_expiring_offers(engine, T0 + DAY) == 0  # the same activation: once
    [told] = notifications(engine)
    assert (told.member_id, told.offer_id, told.kind) == (1, 20, "offer_expiring")
    assert titles(engine) == ["Your offer at Blue Bottle ends soon"]
    # Offer 21 comes into its last three days a week later: told then.
    assert remind_expiring_offers(engine, T0 + 7 * DAY) == 1


def test_an_ended_offer_is_not_reminded(engine):
    world = world_with_members(engine)
    world.offer(offer_id=20, activation_required=True, ends_at=T0 + 2 * DAY)
    world.activate(1, 20, T0 - DAY)
    with engine.begin() as conn:
        conn.execute(update(Offer.__table__).values(status="ended"))
    assert remind_expiring_offers(engine, T0) == 0


def test_a_stamp_card_one_visit_from_its_reward_is_told_once(engine):
    """Every 3rd visit earns $1.00: visits 1 and 2 stamp; after the 2nd, one more earns."""
    world = world_with_members(engine)
    world.offer(offer_id=30, kind="stamp_card", stamp_every_n=3, reward_type="fixed",
                reward_amount=100, rate_bps=0)  # fmt: skip
    world.ingest(world.event(card=1, amount=500, ext="v1", at=T0))
    assert remind_stamp_cards(engine, T0) == 0  # 1 of 3
    world.ingest(world.event(card=1, amount=500, ext="v2", at=T0 + DAY))
    assert remind_stamp_cards(engine, T0 + DAY) == 1  # 2 of 3: the next one earns
    assert remind_stamp_cards(engine, T0 + DAY) == 0
    assert "One more visit to Blue Bottle earns your reward" in titles(engine)
    world.ingest(world.event(card=1, amount=500, ext="v3", at=T0 + 2 * DAY))
    assert remind_stamp_cards(engine, T0 + 2 * DAY) == 0  # 3 of 3: earned, a new card
