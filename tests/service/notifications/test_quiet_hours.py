"""Quiet hours in the member's zone: in-app at once, email held until they end."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from freezegun import freeze_time
from sqlalchemy import select

from service.notifications.preferences import quiet_hours_end
from service.notifications.runner import Notifier
from service.notifications.tables import NotificationDelivery, NotificationPreference
from tests.service.notifications.world import notifications, notify_settings, world_with_members
from tests.service.pipeline_world import T0

NIGHT = 22 * 60
MORNING = 7 * 60


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


@pytest.mark.parametrize(
    ("now", "start", "end", "expected"),
    [
        # Oslo in winter is UTC+1: 23:30 local is inside 22:00-07:00, which ends 06:00 UTC.
        ("2026-11-30T22:30:00", NIGHT, MORNING, "2026-12-01T06:00:00"),
        # 01:00 local, after midnight: the same night, ending that morning.
        ("2026-12-01T00:00:00", NIGHT, MORNING, "2026-12-01T06:00:00"),
        # 07:00 local exactly: over.
        ("2026-12-01T06:00:00", NIGHT, MORNING, None),
        # 21:59 local: not yet.
        ("2026-11-30T20:59:00", NIGHT, MORNING, None),
        # A window inside one day, 12:00-13:00 local (summer, UTC+2): 12:30 ends 11:00 UTC.
        ("2026-07-01T10:30:00", 12 * 60, 13 * 60, "2026-07-01T11:00:00"),
        # The night the clocks go back (Oct 25, 2026): 07:00 local is UTC+1 again.
        ("2026-10-24T21:00:00", NIGHT, MORNING, "2026-10-25T06:00:00"),
        (None, None, None, None),
    ],
)
def test_quiet_hours_end_at_the_local_wall_time(now, start, end, expected):
    at = utc(now) if now else utc("2026-11-30T22:30:00")
    found = quiet_hours_end(at, "Europe/Oslo", start, end)
    assert found == (utc(expected) if expected else None)


def test_email_waits_for_the_end_of_quiet_hours_and_in_app_does_not(engine, smtp):
    world = world_with_members(engine)
    with engine.begin() as conn:
        conn.execute(
            NotificationPreference.__table__.insert().values(
                member_id=1, in_app=True, email=True, push=False, timezone="Europe/Oslo",
                quiet_start_minute=NIGHT, quiet_end_minute=MORNING, updated_at=T0,
            )
        )  # fmt: skip
    world.ingest(world.event(card=1, amount=4_000, ext="a1"))
    notifier = Notifier(engine, notify_settings(smtp.port))

    with freeze_time("2026-11-30 22:30:00"):  # 23:30 in Oslo
        notifier.run_once()
    assert len(notifications(engine)) == 1  # in-app: at once
    t = NotificationDelivery.__table__
    with engine.connect() as conn:
        due = conn.execute(select(t.c.due_at, t.c.status)).one()
    assert (due.due_at.replace(tzinfo=UTC), due.status) == (utc("2026-12-01T06:00:00"), "pending")

    with freeze_time("2026-12-01 05:59:59"):  # 06:59:59 in Oslo: still quiet
        notifier.run_once()
    assert smtp.received == []
    with freeze_time("2026-12-01 06:00:00"):  # 07:00 in Oslo
        notifier.run_once()
    assert len(smtp.wait_for(1)) == 1
