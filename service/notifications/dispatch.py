"""Sending due deliveries: claim a batch, send outside the transaction, record the results.

A claimed delivery is `sending` (committed before anything is sent), so a second notifier
never sends it too. A process that dies while sending leaves it `sending`; after
`STUCK_AFTER` it is sent again, by email with the same Message-ID (a receiving system can
tell it is the same message). A failure is retried with a growing delay, up to
`MAX_ATTEMPTS`; a channel the member turned off since is dropped, never sent.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import Connection, Engine, and_, delete, or_, select, update

from service.config import Settings
from service.notifications.email import OutgoingEmail, message_id_for, send_emails
from service.notifications.messages import email_footer, render
from service.notifications.preferences import choices_of
from service.notifications.push import PushTarget, push_configured, send_push
from service.notifications.tables import Notification, NotificationDelivery, PushSubscription
from service.notifications.unsubscribe import unsubscribe_url
from service.web.i18n import Formatter

MAX_ATTEMPTS = 5
STUCK_AFTER = timedelta(minutes=5)
RETRY_BASE = timedelta(seconds=30)

_deliveries = NotificationDelivery.__table__
_notifications = Notification.__table__
_subs = PushSubscription.__table__


@dataclass
class DispatchResult:
    sent: int = 0
    failed: int = 0
    dropped: int = 0
    errors: dict[str, int] = field(default_factory=dict)
    # The batch was full: more may be due now.
    more: bool = False


def ready_channels(settings: Settings) -> list[str]:
    """Channels this process can send on: email with an SMTP host and a key to sign
    unsubscribe links; push with a VAPID key pair. Others' deliveries wait."""
    channels = []
    if settings.smtp_host and settings.web_secret_key:
        channels.append("email")
    if push_configured(settings):
        channels.append("push")
    return channels


def _claim(conn: Connection, channels: list[str], now: datetime, limit: int) -> list[int]:
    due = or_(
        and_(_deliveries.c.status == "pending", _deliveries.c.due_at <= now),
        and_(_deliveries.c.status == "sending", _deliveries.c.due_at <= now - STUCK_AFTER),
    )
    query = (
        select(_deliveries.c.id)
        .where(due, _deliveries.c.channel.in_(channels))
        .order_by(_deliveries.c.id)
        .limit(limit)
    )
    if conn.dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    ids = list(conn.execute(query).scalars())
    if ids:
        # due_at now marks when it was claimed (for STUCK_AFTER).
        conn.execute(
            update(_deliveries)
            .where(_deliveries.c.id.in_(ids))
            .values(status="sending", due_at=now, attempts=_deliveries.c.attempts + 1)
        )
    return ids


def dispatch_due(
    engine: Engine, settings: Settings, now: datetime, *, limit: int = 200
) -> DispatchResult:
    channels = ready_channels(settings)
    result = DispatchResult()
    if not channels:
        return result
    with engine.begin() as conn:
        ids = _claim(conn, channels, now, limit)
        if not ids:
            return result
        result.more = len(ids) == limit
        rows = conn.execute(
            select(
                _deliveries.c.id.label("delivery_id"),
                _deliveries.c.channel,
                _deliveries.c.attempts,
                *_notifications.c,
            )
            .join(_notifications, _notifications.c.id == _deliveries.c.notification_id)
            .where(_deliveries.c.id.in_(ids))
            .order_by(_deliveries.c.id)
        ).all()
        choices = choices_of(conn, {r.member_id for r in rows})
        push_targets: dict[int, list[PushTarget]] = {}
        for sub in conn.execute(select(_subs).where(_subs.c.member_id.in_(sorted(choices)))).all():
            push_targets.setdefault(sub.member_id, []).append(
                PushTarget(sub.id, sub.endpoint, sub.p256dh, sub.auth)
            )

    outcome: dict[int, str | None] = {}
    dropped: list[int] = []
    mails: list[OutgoingEmail] = []
    gone: set[int] = set()
    formatters: dict[tuple[str, str], Formatter] = {}
    for row in rows:
        choice = choices.get(row.member_id)
        delivery_id = row.delivery_id
        if choice is None or not getattr(choice, row.channel):
            dropped.append(delivery_id)
            continue
        fmt = formatters.get((choice.language, choice.timezone))
        if fmt is None:
            fmt = formatters[(choice.language, choice.timezone)] = Formatter(
                choice.language, choice.timezone
            )
        message = render(row, fmt)
        if row.channel == "email" and choice.email_address:
            link = unsubscribe_url(
                settings.web_origin, settings.web_secret_key, row.member_id, "email"
            )
            app_link = settings.web_origin.rstrip("/") + message.path
            mails.append(
                OutgoingEmail(
                    delivery_id=delivery_id,
                    to=choice.email_address,
                    subject=message.title,
                    text=f"{message.body}\n\n{app_link}\n\n-- \n{email_footer(fmt, link)}\n",
                    unsubscribe_url=link,
                    message_id=message_id_for(row.id, settings.notification_email_from),
                )
            )
        elif row.channel == "push" and not push_targets.get(row.member_id):
            dropped.append(delivery_id)  # every browser unsubscribed since: nothing to send
        elif row.channel == "push":
            payload = {"title": message.title, "body": message.body, "url": message.path}
            # Every browser the member subscribed; delivered when one of them took it.
            errors = []
            for target in push_targets.get(row.member_id, []):
                error = send_push(settings, target, payload)
                if error == "gone":
                    gone.add(target.subscription_id)
                errors.append(error)
            if None in errors:
                outcome[delivery_id] = None
            else:
                outcome[delivery_id] = next((e for e in errors if e != "gone"), "gone")
        else:
            dropped.append(delivery_id)
    outcome.update(send_emails(settings, mails))
    _record(engine, now, outcome, dropped, gone, {r.delivery_id: r.attempts for r in rows}, result)
    return result


def _record(
    engine: Engine,
    now: datetime,
    outcome: dict[int, str | None],
    dropped: list[int],
    gone: set[int],
    attempts: dict[int, int],
    result: DispatchResult,
) -> None:
    with engine.begin() as conn:
        sent = [i for i, error in outcome.items() if error is None]
        if sent:
            conn.execute(
                update(_deliveries)
                .where(_deliveries.c.id.in_(sent))
                .values(status="sent", sent_at=now, last_error=None)
            )
        for delivery_id, error in outcome.items():
            if error is None:
                continue
            tries = attempts[delivery_id]  # counted when claimed
            final = tries >= MAX_ATTEMPTS
            conn.execute(
                update(_deliveries)
                .where(_deliveries.c.id == delivery_id)
                .values(
                    status="failed" if final else "pending",
                    due_at=now + RETRY_BASE * 2 ** (tries - 1),
                    last_error=error[:200],
                )
            )
            result.failed += 1
            result.errors[error] = result.errors.get(error, 0) + 1
        if dropped:
            conn.execute(
                update(_deliveries)
                .where(_deliveries.c.id.in_(dropped))
                .values(status="dropped", last_error="channel_off")
            )
        if gone:
            conn.execute(delete(_subs).where(_subs.c.id.in_(sorted(gone))))
    result.sent += len(sent)
    result.dropped += len(dropped)
