"""`clo scheduler`: the one process that runs maturation, settlement, holdout population
counts, partner webhooks and the give-back of dead batches' budget holds on a schedule.

APScheduler 3.11 BlockingScheduler, UTC cron triggers from settings; `coalesce` (a backlog
of missed runs fires once), `max_instances=1` (a slow run is never overlapped by itself) and
an explicit `misfire_grace_time`. It never runs inside API workers; a second scheduler
process is harmless (the run's advisory lock and unique key), only wasteful.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime

from apscheduler.schedulers.base import BaseScheduler
from apscheduler.schedulers.blocking import BlockingScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError

from service.attribution.population import count_populations
from service.config import Settings
from service.notifications.runner import Notifier
from service.webhooks.delivery import Deliverer
from service.webhooks.worker import deliver_pass
from settlement.budget_holds import give_back_abandoned
from settlement.maturation import run_maturation
from settlement.runs.periods import previous_week
from settlement.runs.runner import RunOutcome, SettlementRunner

log = logging.getLogger("clo.scheduler")
RunnerFactory = Callable[[Engine, Settings], SettlementRunner]


def _default_runner(engine: Engine, settings: Settings) -> SettlementRunner:
    from service.settlements.ports import make_runner

    return make_runner(engine, settings)


def maturation_job(engine: Engine, now: datetime | None = None) -> None:
    now = now or datetime.now(UTC)
    result = run_maturation(engine, now)
    log.info(
        "maturation",
        extra={"matured": result.matured_count, "expired": result.expired_count},
    )


def holdout_population_job(engine: Engine, now: datetime | None = None) -> int:
    """Count each holdout offer's population up to the last settled midnight."""
    now = now or datetime.now(UTC)
    try:
        with engine.begin() as conn:
            counted = count_populations(conn, now)
    except IntegrityError:  # another scheduler process counted the same day first
        log.info("holdout populations: already counted")
        return 0
    log.info("holdout populations", extra={"offers": counted})
    return counted


def settlement_job(
    engine: Engine,
    settings: Settings,
    now: datetime | None = None,
    runner_factory: RunnerFactory = _default_runner,
) -> RunOutcome:
    """Settle the ISO week before `now` (Monday 00:00 UTC to Monday 00:00 UTC)."""
    now = now or datetime.now(UTC)
    period = previous_week(now)
    outcome = runner_factory(engine, settings).settle(period, now)
    log.info(
        "settlement",
        extra={"period": period.label, "state": outcome.status, "steps": outcome.steps_now},
    )
    return outcome


def resume_job(
    engine: Engine,
    settings: Settings,
    now: datetime | None = None,
    runner_factory: RunnerFactory = _default_runner,
) -> list[RunOutcome]:
    """Continue runs finance has approved since, or that stopped on an error."""
    return runner_factory(engine, settings).resume_unfinished(now or datetime.now(UTC))


def budget_holds_job(engine: Engine) -> int:
    """Give back the budgets held by feed batches whose process died before committing: until
    then those budgets read as spent, and an offer near its end refuses rewards it has room
    for. Returns how many holds were given back."""
    return give_back_abandoned(engine)


def ledger_check_job(engine: Engine, now: datetime | None = None) -> bool:
    """Check the ledger; the result and its time go to /metrics. True when balanced."""
    from service.ledger.checks import run_ledger_check

    return run_ledger_check(engine, now or datetime.now(UTC)).balanced


def webhooks_job(engine: Engine, deliverer: Deliverer, now: datetime | None = None) -> None:
    """Fan the outbox out to partner endpoints and send what is due."""
    result = deliver_pass(engine, deliverer, now or datetime.now(UTC))
    if result.fanned_events or result.tally.sent or result.tally.failed:
        log.info("webhooks: %s", result.detail())


def notify_job(notifier: Notifier) -> None:
    """One turn of the member notifier (outbox to notifications, due email and push)."""
    notifier.run_once()


def build_scheduler(
    engine: Engine,
    settings: Settings,
    *,
    scheduler_cls: type[BaseScheduler] = BlockingScheduler,
    runner_factory: RunnerFactory = _default_runner,
) -> BaseScheduler:
    grace = settings.scheduler_misfire_grace_seconds
    options = {"coalesce": True, "max_instances": 1, "misfire_grace_time": grace}
    scheduler = scheduler_cls(timezone=UTC, job_defaults=options)
    scheduler.add_job(
        maturation_job,
        CronTrigger.from_crontab(settings.maturation_cron, timezone=UTC),
        id="maturation",
        args=[engine],
        replace_existing=True,
        **options,
    )
    scheduler.add_job(
        holdout_population_job,
        CronTrigger.from_crontab(settings.holdout_population_cron, timezone=UTC),
        id="holdout_population",
        args=[engine],
        replace_existing=True,
        **options,
    )
    scheduler.add_job(
        settlement_job,
        CronTrigger.from_crontab(settings.settlement_cron, timezone=UTC),
        id="settlement",
        args=[engine, settings],
        kwargs={"runner_factory": runner_factory},
        replace_existing=True,
        **options,
    )
    scheduler.add_job(
        ledger_check_job,
        CronTrigger.from_crontab(settings.ledger_check_cron, timezone=UTC),
        id="ledger_check",
        args=[engine],
        replace_existing=True,
        **options,
    )
    scheduler.add_job(
        resume_job,
        CronTrigger.from_crontab(settings.resume_runs_cron, timezone=UTC),
        id="resume_runs",
        args=[engine, settings],
        kwargs={"runner_factory": runner_factory},
        replace_existing=True,
        **options,
    )
    scheduler.add_job(
        budget_holds_job,
        IntervalTrigger(seconds=settings.budget_holds_interval_seconds, timezone=UTC),
        id="budget_holds",
        args=[engine],
        replace_existing=True,
        **options,
    )
    scheduler.add_job(
        webhooks_job,
        IntervalTrigger(seconds=settings.deliver_interval_seconds, timezone=UTC),
        id="webhooks",
        args=[engine, Deliverer(engine, settings)],
        replace_existing=True,
        **options,
    )
    # Every half second: a member hears of cashback within seconds of the purchase. One
    # Notifier for the process, so it remembers what it handled past a gap in the ids.
    scheduler.add_job(
        notify_job,
        IntervalTrigger(seconds=settings.notifier_poll_seconds, timezone=UTC),
        id="notify",
        args=[Notifier(engine, settings)],
        replace_existing=True,
        **options,
    )
    return scheduler
