"""The notifier in `clo demo --serve`: email to a local SMTP server that prints what it gets,
a VAPID key pair for push when the demo's secrets have none, and the replayed history left
out (the feed's past is not news; purchases made while the demo serves are)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime

from sqlalchemy import Engine, func, select

from infra.mail.smtp_sink import ReceivedMail, SmtpSink
from service.config import Settings
from service.notifications.notifier import OutboxConsumer
from service.notifications.push import generate_vapid_keys
from service.notifications.runner import NotifierThread, start_notifier
from settlement.outbox import OutboxEvent

_outbox = OutboxEvent.__table__


class _MailPrinter:
    """Prints the first emails whole and then a count every hundred: at start the reminders of
    the replayed members' stamp cards go out at once, and would scroll the sign-in lines away."""

    shown = 5

    def __init__(self) -> None:
        self.received = 0
        self._lock = threading.Lock()

    def __call__(self, mail: ReceivedMail) -> None:
        with self._lock:
            self.received += 1
            n = self.received
        if n <= self.shown:
            print(f"email to {', '.join(mail.envelope_to)}: {mail.message['Subject']}", flush=True)
        elif n % 100 == 0:
            print(f"{n:,} emails received by the local SMTP server so far", flush=True)


def skip_history(engine: Engine, now: datetime) -> int:
    """Move the notifier's cursor to the outbox's end; returns the rows left out."""
    with engine.begin() as conn:
        last = conn.execute(select(func.max(_outbox.c.id))).scalar() or 0
    return OutboxConsumer(engine).skip_to(last, now)


@contextmanager
def demo_notifier(engine: Engine, settings: Settings, now: datetime) -> Iterator[Settings]:
    """Serve SMTP locally and run the notifier beside the demo's server until the block ends;
    yields the settings the server uses (SMTP host and push keys filled in)."""
    with SmtpSink(on_receive=_MailPrinter()) as mail:
        update: dict[str, object] = {"smtp_host": mail.host, "smtp_port": mail.port}
        if not settings.vapid_private_key:
            update["vapid_private_key"], update["vapid_public_key"] = generate_vapid_keys()
        served = settings.model_copy(update=update)
        left_out = skip_history(engine, now)
        print(f"notifications: email to a local SMTP server ({mail.host}:{mail.port}; the first "
              f"few printed here); {left_out:,} replayed outbox events left out")  # fmt: skip
        notifier: NotifierThread = start_notifier(engine, served)
        try:
            yield served
        finally:
            notifier.stop()
