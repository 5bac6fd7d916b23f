"""A pipeline world whose members have email addresses, and the notifier's settings."""

from __future__ import annotations

from sqlalchemy import Engine, select, update

from service.config import Settings
from service.notifications.messages import render
from service.notifications.tables import Notification, NotificationDelivery
from service.tables import Member
from service.web.i18n import Formatter
from tests.service.pipeline_world import PipelineWorld


def notify_settings(smtp_port: int | None = None, **extra: object) -> Settings:
    values: dict[str, object] = {"environment": "test", "web_origin": "https://cash.example"}
    if smtp_port is not None:
        values |= {"smtp_host": "127.0.0.1", "smtp_port": smtp_port}
    return Settings(**(values | extra))  # type: ignore[arg-type]


def world_with_members(engine: Engine, *member_ids: int) -> PipelineWorld:
    """Blue Bottle with a 5% offer (id 10, 20% commission); each member has a card (its id)
    and an email address m<id>@example.com."""
    world = PipelineWorld(engine)
    for member_id in member_ids or (1,):
        world.member(member_id=member_id)
        with engine.begin() as conn:
            conn.execute(
                update(Member.__table__)
                .where(Member.__table__.c.id == member_id)
                .values(
                    email=f"m{member_id}@example.com", display_name=f"Kari Nordmann {member_id}"
                )
            )
    world.offer(offer_id=10)
    return world


def notifications(engine: Engine, member_id: int | None = None) -> list[Notification]:
    t = Notification.__table__
    query = select(t).order_by(t.c.id)
    if member_id is not None:
        query = query.where(t.c.member_id == member_id)
    with engine.connect() as conn:
        return [Notification(**row._mapping) for row in conn.execute(query)]


def deliveries(engine: Engine) -> list[tuple[int, str, str]]:
    t = NotificationDelivery.__table__
    with engine.connect() as conn:
        return [
            (r.notification_id, r.channel, r.status)
            for r in conn.execute(select(t).order_by(t.c.id))
        ]


def titles(engine: Engine, language: str = "en") -> list[str]:
    fmt = Formatter(language)
    return [render(n, fmt).title for n in notifications(engine)]
