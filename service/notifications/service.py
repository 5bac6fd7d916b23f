"""A member's notifications, choices and push browsers: always loaded through the member.

Every query names the member it was reached through (`member_in_scope` checked the caller
first), so another member's notification is not found, exactly as a missing one.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import func
from sqlmodel import Session, col, select

from service.notifications.messages import render
from service.notifications.preferences import choices_of
from service.notifications.schemas import (
    MarkedRead,
    NotificationOut,
    NotificationsOut,
    PreferencesIn,
    PreferencesOut,
    PushSubscriptionIn,
    PushSubscriptionOut,
)
from service.notifications.tables import Notification, NotificationPreference, PushSubscription
from service.notifications.unsubscribe import Unsubscribe
from service.problems import InvalidInput, NotFound
from service.tables import Member
from service.web.i18n import Formatter


def formatter_for(session: Session, member_id: int, language: str | None = None) -> Formatter:
    """The member's language (or the one asked for) and time zone."""
    choice = choices_of(session.connection(), {member_id})[member_id]
    return Formatter(language or choice.language, choice.timezone)


def unread_count(session: Session, member_id: int) -> int:
    return session.exec(
        select(func.count())
        .select_from(Notification)
        .where(
            Notification.member_id == member_id,
            col(Notification.in_app).is_(True),
            col(Notification.read_at).is_(None),
        )
    ).one()


def notification_out(row: Notification, fmt: Formatter) -> NotificationOut:
    message = render(row, fmt)
    assert row.id is not None
    return NotificationOut(
        id=row.id,
        kind=row.kind,
        title=message.title,
        body=message.body,
        link=message.path,
        amount_minor=row.amount_minor,
        currency=row.currency,
        created_at=row.created_at,
        read_at=row.read_at,
    )


def list_notifications(
    session: Session,
    member: Member,
    fmt: Formatter,
    *,
    before_id: int | None = None,
    limit: int = 50,
) -> NotificationsOut:
    assert member.id is not None
    query = select(Notification).where(
        Notification.member_id == member.id, col(Notification.in_app).is_(True)
    )
    if before_id is not None:
        query = query.where(col(Notification.id) < before_id)
    rows = list(session.exec(query.order_by(col(Notification.id).desc()).limit(limit + 1)))
    more = len(rows) > limit
    rows = rows[:limit]
    return NotificationsOut(
        items=[notification_out(r, fmt) for r in rows],
        unread_count=unread_count(session, member.id),
        next_cursor=rows[-1].id if more else None,
    )


def mark_read(
    session: Session, member: Member, notification_ids: Sequence[int], now: datetime
) -> MarkedRead:
    """Mark the member's notifications read: the ones named (each must be the member's), or
    every unread one when none are named. Marking again changes nothing."""
    assert member.id is not None
    mine = Notification.member_id == member.id
    if notification_ids:
        wanted = sorted(set(notification_ids))
        found = set(
            session.exec(select(Notification.id).where(mine, col(Notification.id).in_(wanted)))
        )
        missing = [i for i in wanted if i not in found]
        if missing:
            raise NotFound(
                f"notification {missing[0]} not found", field="notification_ids", reason="not_found"
            )
    t = Notification.__table__
    statement = t.update().where(t.c.member_id == member.id, t.c.read_at.is_(None))
    if notification_ids:
        statement = statement.where(t.c.id.in_(sorted(set(notification_ids))))
    marked = session.connection().execute(statement.values(read_at=now)).rowcount
    session.commit()
    return MarkedRead(marked_count=marked, unread_count=unread_count(session, member.id))


def preferences(session: Session, member: Member) -> PreferencesOut:
    assert member.id is not None
    row = session.get(NotificationPreference, member.id)
    choice = choices_of(session.connection(), {member.id})[member.id]
    browsers = session.exec(
        select(func.count())
        .select_from(PushSubscription)
        .where(PushSubscription.member_id == member.id)
    ).one()
    return PreferencesOut(
        member_id=member.id,
        in_app=choice.in_app,
        email=row.email if row else True,
        push=row.push if row else True,
        language=row.language if row else None,
        timezone=choice.timezone,
        quiet_start_minute=choice.quiet_start_minute,
        quiet_end_minute=choice.quiet_end_minute,
        email_address_known=choice.email_address is not None,
        push_browsers=browsers,
    )


def set_preferences(
    session: Session, member: Member, body: PreferencesIn, now: datetime
) -> PreferencesOut:
    """Replace the member's choices (PUT: the same body twice is the same result)."""
    assert member.id is not None
    row = session.get(NotificationPreference, member.id) or NotificationPreference(
        member_id=member.id, updated_at=now
    )
    for name, value in body.model_dump().items():
        setattr(row, name, value)
    row.updated_at = now
    session.add(row)
    session.commit()
    return preferences(session, member)


def turn_off(session: Session, stop: Unsubscribe, now: datetime) -> bool:
    """An unsubscribe link: the channel it names off for its member (False: no such member)."""
    if session.get(Member, stop.member_id) is None:
        return False
    row = session.get(NotificationPreference, stop.member_id)
    if row is None:
        choice = choices_of(session.connection(), {stop.member_id})[stop.member_id]
        row = NotificationPreference(
            member_id=stop.member_id, language=None, timezone=choice.timezone, updated_at=now
        )
    setattr(row, stop.channel, False)
    row.updated_at = now
    session.add(row)
    session.commit()
    return True


def add_push_subscription(
    session: Session,
    member: Member,
    body: PushSubscriptionIn,
    now: datetime,
    *,
    allow_plain_http: bool = False,
) -> tuple[PushSubscriptionOut, bool]:
    """Keep a browser's subscription; the same endpoint again returns the first (False).
    The endpoint is a capability: whoever presents it again (signed in as another member,
    say after a browser changed hands) moves it to themselves.

    Push services are https; a plain-http endpoint on this machine is accepted only where
    `allow_plain_http` (development, tests and the demo, with a local push service)."""
    assert member.id is not None
    if not body.endpoint.startswith("https://") and not allow_plain_http:
        raise InvalidInput("a push endpoint is an https URL", field="endpoint", reason="not_https")
    found = session.exec(
        select(PushSubscription).where(PushSubscription.endpoint == body.endpoint)
    ).first()
    created = found is None
    row = found or PushSubscription(
        member_id=member.id,
        endpoint=body.endpoint,
        p256dh=body.keys.p256dh,
        auth=body.keys.auth,
        created_at=now,
    )
    row.member_id, row.p256dh, row.auth = member.id, body.keys.p256dh, body.keys.auth
    session.add(row)
    session.commit()
    assert row.id is not None
    return PushSubscriptionOut(id=row.id, created_at=row.created_at), created


def remove_push_subscriptions(session: Session, member: Member) -> int:
    """Forget every browser of the member (push off everywhere)."""
    rows = list(
        session.exec(select(PushSubscription).where(PushSubscription.member_id == member.id))
    )
    for row in rows:
        session.delete(row)
    session.commit()
    return len(rows)
