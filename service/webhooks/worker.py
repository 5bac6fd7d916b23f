"""One pass of partner webhooks: fan the outbox out, then send what is due.

Run every few seconds by `clo scheduler` and in a loop by `clo deliver`; any number of
passes may run at once in different processes (the fan-out locks its cursor, the senders
lease endpoints).
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Engine

from service.config import Settings
from service.webhooks.delivery import Deliverer, DeliveryTally
from service.webhooks.fanout import FanoutResult, fan_out

log = logging.getLogger("clo.webhooks")
MAX_FANOUT_BATCHES_PER_PASS = 10


@dataclass(slots=True)
class PassResult:
    fanned_events: int
    queued: int
    tally: DeliveryTally

    def detail(self) -> str:
        return (
            f"{self.fanned_events} events fanned out ({self.queued} queued); {self.tally.detail()}"
        )


def deliver_pass(engine: Engine, deliverer: Deliverer, now: datetime) -> PassResult:
    events = queued = 0
    for _ in range(MAX_FANOUT_BATCHES_PER_PASS):
        result: FanoutResult = fan_out(engine, now)
        events, queued = events + result.events, queued + result.deliveries
        if result.events == 0:
            break
    tally = deliverer.deliver_due(now)
    return PassResult(events, queued, tally)


def run_forever(
    engine: Engine,
    settings: Settings,
    *,
    once: bool = False,
    stop: threading.Event | None = None,
) -> PassResult | None:
    """`clo deliver`: a pass every `deliver_interval_seconds` until stopped (or one pass)."""
    stop = stop or threading.Event()
    deliverer = Deliverer(engine, settings)
    last: PassResult | None = None
    try:
        while True:
            last = deliver_pass(engine, deliverer, datetime.now(UTC))
            if last.fanned_events or last.tally.sent or last.tally.failed:
                log.info("webhooks: %s", last.detail())
            if once or stop.wait(settings.deliver_interval_seconds):
                return last
    finally:
        deliverer.close()
