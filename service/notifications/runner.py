"""The notifier's loop: under `clo notify`, `clo scheduler` and `clo serve` (and the demo).

Each turn reads the outbox until it is caught up, sends what is due, and once a minute
runs the reminder scans; then it sleeps `notifier_poll_seconds` (0.5 s), or less when
woken. One process at a time does the work (the cursor row lock on PostgreSQL, the write
lock on SQLite); a second is harmless, only idle.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine

from service.config import Settings
from service.notifications.dispatch import dispatch_due
from service.notifications.notifier import OutboxConsumer
from service.notifications.reminders import remind_expiring_offers, remind_stamp_cards

log = logging.getLogger("clo.notify")
REMINDER_EVERY = timedelta(minutes=1)


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class Notifier:
    engine: Engine
    settings: Settings
    clock: Callable[[], datetime] = utc_now
    consumer: OutboxConsumer = field(init=False)
    last_reminders: datetime | None = None

    def __post_init__(self) -> None:
        self.consumer = OutboxConsumer(self.engine, self.settings.notifier_chunk_events)

    def run_once(self) -> int:
        """One turn; returns how many notifications and deliveries it made or sent."""
        return self.make_notifications() + self.send_due()

    def make_notifications(self) -> int:
        """Read the outbox until caught up; the reminder scans once a minute."""
        done = 0
        while True:
            result = self.consumer.consume(self.clock())
            done += result.notified_count
            if result.read_count < self.consumer.chunk_events:
                break
        now = self.clock()
        if self.last_reminders is None or now - self.last_reminders >= REMINDER_EVERY:
            done += remind_expiring_offers(self.engine, now)
            done += remind_stamp_cards(self.engine, now)
            self.last_reminders = now
        return done

    def send_due(self) -> int:
        """Send what is due, batch after batch until a batch is not full."""
        sent = 0
        while True:
            result = dispatch_due(self.engine, self.settings, self.clock())
            sent += result.sent
            if not result.more:
                return sent

    def run_forever(self, stop: threading.Event, wake: threading.Event | None = None) -> None:
        """Two loops: making notifications never waits for a slow mail server, and sending
        never waits for a long outbox chunk."""
        sender = threading.Thread(
            target=self._loop, args=(self.send_due, stop, None), name="clo-notify-send"
        )
        sender.start()
        try:
            self._loop(self.make_notifications, stop, wake)
        finally:
            stop.set()
            sender.join()

    def _loop(
        self, turn: Callable[[], int], stop: threading.Event, wake: threading.Event | None
    ) -> None:
        pause = wake or threading.Event()
        while not stop.is_set():
            try:
                turn()
            except Exception:  # a bad turn is logged and retried, never the end of the loop
                log.exception("notifier turn failed")
            pause.wait(self.settings.notifier_poll_seconds)
            pause.clear()


@dataclass
class NotifierThread:
    """The notifier on a daemon thread beside a server; `stop()` ends it after its turn."""

    notifier: Notifier
    stop_event: threading.Event = field(default_factory=threading.Event)
    wake_event: threading.Event = field(default_factory=threading.Event)
    thread: threading.Thread | None = None

    def start(self) -> NotifierThread:
        self.thread = threading.Thread(
            target=self.notifier.run_forever,
            args=(self.stop_event, self.wake_event),
            name="clo-notifier",
            daemon=True,
        )
        self.thread.start()
        return self

    def stop(self) -> None:
        self.stop_event.set()
        self.wake_event.set()
        if self.thread is not None:
            self.thread.join(timeout=10)


def start_notifier(engine: Engine, settings: Settings) -> NotifierThread:
    return NotifierThread(Notifier(engine, settings)).start()
