"""A member's notification choices, their defaults, and quiet hours in the member's zone."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, Table, select

from service.notifications.tables import NotificationPreference, PushSubscription
from service.tables import Member
from service.web.i18n import DEFAULT_LANGUAGE, supported
from service.web.tables import MemberLogin

_prefs = NotificationPreference.__table__
_members = Member.__table__
_logins: Table = MemberLogin.__table__  # type: ignore[attr-defined]
_subs = PushSubscription.__table__


@dataclass(frozen=True, slots=True)
class Choices:
    """What the notifier needs to know about one member to tell them something."""

    member_id: int
    email_address: str | None
    in_app: bool
    email: bool
    push: bool
    language: str
    timezone: str
    quiet_start_minute: int | None
    quiet_end_minute: int | None

    def held_until(self, now: datetime) -> datetime:
        """When an email or push made at `now` may go: now, or the end of quiet hours."""
        return (
            quiet_hours_end(now, self.timezone, self.quiet_start_minute, self.quiet_end_minute)
            or now
        )


def quiet_hours_end(
    now: datetime, timezone: str, start_minute: int | None, end_minute: int | None
) -> datetime | None:
    """The end of the quiet hours `now` falls in (UTC), or None outside them.

    Minutes count from local midnight; a start after the end spans midnight (22:00-07:00).
    The end is a local wall time, so a daylight saving change moves it with the clock.
    """
    if start_minute is None or end_minute is None or start_minute == end_minute:
        return None
    zone = ZoneInfo(timezone)
    local = now.astimezone(zone)
    minute = local.hour * 60 + local.minute
    if start_minute < end_minute:
        inside = start_minute <= minute < end_minute
        end_day = local.date()
    else:
        inside = minute >= start_minute or minute < end_minute
        end_day = local.date() + timedelta(days=1) if minute >= start_minute else local.date()
    if not inside:
        return None
    end_local = datetime.combine(end_day, time(end_minute // 60, end_minute % 60), tzinfo=zone)
    return end_local.astimezone(UTC)


def choices_of(conn: Connection, member_ids: set[int]) -> dict[int, Choices]:
    """Each member's choices, with the defaults where the member chose nothing: in-app on,
    email on when there is an address, push on once a browser subscribed."""
    if not member_ids:
        return {}
    ids = sorted(member_ids)
    rows = conn.execute(
        select(
            _members.c.id,
            _members.c.email,
            _logins.c.email,
            _logins.c.locale,
            _prefs.c.in_app,
            _prefs.c.email,
            _prefs.c.push,
            _prefs.c.language,
            _prefs.c.timezone,
            _prefs.c.quiet_start_minute,
            _prefs.c.quiet_end_minute,
        )
        .select_from(
            _members.outerjoin(_logins, _logins.c.member_id == _members.c.id).outerjoin(
                _prefs, _prefs.c.member_id == _members.c.id
            )
        )
        .where(_members.c.id.in_(ids))
    ).all()
    subscribed = set(
        conn.execute(
            select(_subs.c.member_id).where(_subs.c.member_id.in_(ids)).distinct()
        ).scalars()
    )
    out: dict[int, Choices] = {}
    for row in rows:
        member_id, member_email, login_email, locale = row[0], row[1], row[2], row[3]
        chosen = row[4] is not None
        address = member_email or login_email
        out[member_id] = Choices(
            member_id=member_id,
            email_address=address,
            in_app=row[4] if chosen else True,
            email=(row[5] if chosen else True) and address is not None,
            push=(row[6] if chosen else True) and member_id in subscribed,
            language=supported(row[7]) or supported(locale) or DEFAULT_LANGUAGE,
            timezone=row[8] if chosen else "UTC",
            quiet_start_minute=row[9] if chosen else None,
            quiet_end_minute=row[10] if chosen else None,
        )
    return out
