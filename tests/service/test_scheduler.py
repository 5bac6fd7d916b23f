"""The scheduler's wiring: its jobs, their options and triggers, and what the jobs do."""

from __future__ import annotations

from datetime import UTC, datetime

from apscheduler.schedulers.blocking import BlockingScheduler
from freezegun import freeze_time
from prometheus_client import REGISTRY
from sqlalchemy import Engine, text

from service.config import Settings
from service.scheduler import (
    budget_holds_job,
    build_scheduler,
    ledger_check_job,
    settlement_job,
)
from settlement.budget_holds import BudgetHolds
from settlement.runs.runner import RunOutcome
from tests.service.pipeline_world import PipelineWorld


class FakeRunner:
    def __init__(self) -> None:
        self.calls: list[tuple[str, datetime]] = []

    def settle(self, period, now):
        self.calls.append((period.label, now))
        return RunOutcome(1, "closed")


def test_the_scheduler_registers_its_jobs_with_explicit_options():
    settings = Settings(environment="test", scheduler_misfire_grace_seconds=1800)
    scheduler = build_scheduler(None, settings)
    assert isinstance(scheduler, BlockingScheduler)
    jobs = {job.id: job for job in scheduler.get_jobs()}
    assert set(jobs) == {
        "maturation",
        "holdout_population",
        "settlement",
        "resume_runs",
        "budget_holds",
        "ledger_check",
        "webhooks",
        "notify",
    }
    for job in jobs.values():
        assert job.coalesce is True
        assert job.max_instances == 1
        assert job.misfire_grace_time == 1800
    with freeze_time("2026-11-18T10:00:00Z"):  # a Wednesday
        now = datetime.now(UTC)
        assert jobs["maturation"].trigger.get_next_fire_time(None, now) == datetime(
            2026, 11, 19, 2, 0, tzinfo=UTC
        )
        assert jobs["settlement"].trigger.get_next_fire_time(None, now) == datetime(
            2026, 11, 23, 3, 0, tzinfo=UTC
        )
        # Daily, once the night's cards are settled (an hour after midnight).
        assert jobs["holdout_population"].trigger.get_next_fire_time(None, now) == datetime(
            2026, 11, 19, 1, 30, tzinfo=UTC
        )


def test_cron_schedules_come_from_settings():
    settings = Settings(
        environment="test", maturation_cron="30 4 * * *", settlement_cron="0 6 * * tue"
    )
    jobs = {job.id: job for job in build_scheduler(None, settings).get_jobs()}
    start = datetime(2026, 11, 16, 0, 0, tzinfo=UTC)
    assert jobs["maturation"].trigger.get_next_fire_time(None, start) == datetime(
        2026, 11, 16, 4, 30, tzinfo=UTC
    )
    assert jobs["settlement"].trigger.get_next_fire_time(None, start) == datetime(
        2026, 11, 17, 6, 0, tzinfo=UTC
    )


def test_the_settlement_job_settles_the_previous_iso_week():
    runner = FakeRunner()
    settings = Settings(environment="test")
    with freeze_time("2026-11-16T03:00:00Z"):
        settlement_job(None, settings, runner_factory=lambda _e, _s: runner)
    assert runner.calls == [("2026-W46", datetime(2026, 11, 16, 3, 0, tzinfo=UTC))]
    # Across a year end: the Monday 4 January 2027 run closes 2026-W53.
    settlement_job(
        None,
        settings,
        now=datetime(2027, 1, 4, 3, 0, tzinfo=UTC),
        runner_factory=lambda _e, _s: runner,
    )
    assert runner.calls[-1][0] == "2026-W53"


def test_the_ledger_check_job_puts_its_result_and_time_on_metrics(engine: Engine):
    checked_at = datetime(2026, 11, 18, 0, 45, tzinfo=UTC)
    assert ledger_check_job(engine, checked_at) is True
    assert REGISTRY.get_sample_value("clo_ledger_check_balanced") == 1
    assert REGISTRY.get_sample_value("clo_ledger_check_timestamp_seconds") == (
        checked_at.timestamp()
    )
    hourly = build_scheduler(engine, Settings(environment="test")).get_job("ledger_check")
    after = datetime(2026, 11, 18, 0, 46, tzinfo=UTC)
    assert hourly.trigger.get_next_fire_time(None, after) == datetime(
        2026, 11, 18, 1, 45, tzinfo=UTC
    )


def test_the_budget_holds_job_gives_back_every_minute_what_a_dead_batch_held(engine):
    """A batch reserved 3,000 of an offer's 5,000 ahead of itself (PostgreSQL), then its
    process died: the job, every minute, gives the 3,000 back, once."""
    world = PipelineWorld(engine)
    world.offer(offer_id=10, rate_bps=1_000, budget_amount=5_000)
    batch = engine.connect()
    batch.begin()
    BudgetHolds(engine).on(batch).reserve({10: (3_000, 3)}, {10})
    batch.close()  # the process died before the batch committed
    postgres = engine.dialect.name == "postgresql"
    assert budget_holds_job(engine) == (1 if postgres else 0)
    assert budget_holds_job(engine) == 0
    with engine.connect() as conn:
        reserved = conn.execute(
            text("SELECT reserved_amount FROM offer_budget WHERE offer_id = 10")
        ).scalar_one()
        held = conn.execute(text("SELECT count(*) FROM offer_budget_hold")).scalar_one()
    assert (reserved, held) == (0, 0)
    job = build_scheduler(engine, Settings(environment="test")).get_job("budget_holds")
    assert job.trigger.interval.total_seconds() == 60
