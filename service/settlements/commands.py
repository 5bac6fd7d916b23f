"""`clo settle` and `clo scheduler`: the same code the schedule runs, by hand."""

from __future__ import annotations

import argparse
import contextlib
import logging
import sys
from datetime import UTC, datetime

from service.config import get_settings
from service.db import make_engine
from service.progress import summary


def _now(value: str | None) -> datetime:
    if not value:
        return datetime.now(UTC)
    parsed = datetime.fromisoformat(value)
    if parsed.tzinfo is None:
        raise SystemExit("--now needs a time zone offset, e.g. 2026-11-16T03:00:00+00:00")
    return parsed.astimezone(UTC)


def cmd_settle(args: argparse.Namespace) -> int:
    from service.integrations.stripe_billing import StripeNotConfigured
    from service.settlements.ports import make_runner
    from settlement.runs.periods import InvalidPeriod, iso_week

    settings = get_settings()
    try:
        period = iso_week(args.period)
    except InvalidPeriod as exc:
        print(f"clo settle: {exc}", file=sys.stderr)
        return 2
    engine = make_engine(args.database or settings.database_url)
    try:
        runner = make_runner(engine, settings)
    except StripeNotConfigured as exc:
        print(f"clo settle: {exc}", file=sys.stderr)
        return 2
    outcome = runner.settle(period, _now(args.now))
    done = ", ".join(outcome.steps_now) or "nothing (already done)"
    print(f"settlement {period.label} (run {outcome.run_id}): {outcome.status}; steps: {done}")
    if outcome.timings_ms:
        summary([(step, f"{ms / 1000:.2f} s") for step, ms in outcome.timings_ms.items()])
    if outcome.status == "awaiting_approval":
        print("awaiting finance approval: POST /v1/settlements/runs/{id}/approve")
    return 1 if outcome.busy else 0


def cmd_scheduler(args: argparse.Namespace) -> int:
    from service.scheduler import build_scheduler

    # The notifier's job runs twice a second: its every run is not news.
    logging.getLogger("apscheduler.executors.default").setLevel(logging.WARNING)
    settings = get_settings()
    engine = make_engine(args.database or settings.database_url)
    scheduler = build_scheduler(engine, settings)
    for job in scheduler.get_jobs():
        print(f"job {job.id}: {job.trigger}")
    with contextlib.suppress(KeyboardInterrupt, SystemExit):
        scheduler.start()
    return 0


def cmd_bench_settle(args: argparse.Namespace) -> int:
    from infra.bench.settle import run_settle_benchmark

    return run_settle_benchmark(
        events=args.events, database=args.database, members=args.members, seed=args.seed
    )


def add_commands(sub, add, bench) -> None:
    """Register the commands on the `clo` parser (called from service/cli.py)."""
    p = add("settle", cmd_settle, "run (or resume) the settlement of one ISO week")
    p.add_argument("--period", required=True, help="ISO week, e.g. 2026-W46")
    p.add_argument("--now", help="as of (ISO 8601, default: now)")
    add("scheduler", cmd_scheduler, "run the maturation and settlement schedule (foreground)")
    p = add("settle", cmd_bench_settle, "settle a period of N qualified events", bench)
    p.add_argument("--events", type=int, default=1_000_000)
    p.add_argument("--members", type=int, default=2_000)
    p.add_argument("--seed", type=int, default=3)
