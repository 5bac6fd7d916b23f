"""The `clo` command line: database, keys, ingest, maturation, ledger check, demo, benchmarks."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime
from pathlib import Path

from service.config import get_settings
from service.db import make_engine


def _now(value: str | None) -> datetime:
    if not value:
        return datetime.now(UTC)
    parsed = datetime.fromisoformat(value)
    if parsed.tzinfo is None:
        raise SystemExit("--now needs a time zone offset, e.g. 2026-11-22T02:00:00+00:00")
    return parsed.astimezone(UTC)


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be 1 or more")
    return value


def _engine(url: str | None):
    return make_engine(url or get_settings().database_url)


def cmd_db_upgrade(args: argparse.Namespace) -> int:
    from service.schema import upgrade

    upgrade(_engine(args.database))
    print("database at the newest schema")
    return 0


def cmd_keys_create(args: argparse.Namespace) -> int:
    from datetime import timedelta

    from service.auth import Role, issue_credential
    from service.db import unit_of_work

    now = datetime.now(UTC)
    expires_at = now + timedelta(days=args.expires_in_days) if args.expires_in_days else None
    with unit_of_work(_engine(args.database)) as session:
        try:
            token = issue_credential(
                session,
                role=Role(args.role),
                now=now,
                name=args.name,
                merchant_id=args.merchant_id,
                publisher_id=args.publisher_id,
                expires_at=expires_at,
            )
        except ValueError as exc:
            raise SystemExit(f"clo keys create: {exc}") from None
    print(token)
    return 0


def cmd_keys_revoke(args: argparse.Namespace) -> int:
    from service.auth import revoke_credential
    from service.db import unit_of_work

    key_id = args.key_id.partition(".")[0]  # a whole token names its key id first
    with unit_of_work(_engine(args.database)) as session:
        row = revoke_credential(session, key_id, now=datetime.now(UTC))
        if row is None:
            print(f"no credential {key_id}", file=sys.stderr)
            return 1
        print(f"{key_id} ({row.role}) revoked at {row.revoked_at:%Y-%m-%d %H:%M:%S} UTC")
    return 0


def cmd_secrets_generate(_args: argparse.Namespace) -> int:
    """Fresh secrets as environment lines, for a demo or a new deployment's secret store."""
    import secrets

    from cryptography.fernet import Fernet

    feed_keys = json.dumps({"demo": secrets.token_urlsafe(32)})
    print(f"CLO_FEED_SIGNING_KEYS='{feed_keys}'")
    print(f"CLO_ENCRYPTION_KEYS='{json.dumps([Fernet.generate_key().decode()])}'")
    print(f"CLO_STRIPE_WEBHOOK_SECRET=whsec_{secrets.token_hex(24)}")
    print(f"CLO_WEB_SECRET_KEY={secrets.token_urlsafe(32)}")
    from service.notifications.push import generate_vapid_keys

    vapid_private, vapid_public = generate_vapid_keys()
    print(f"CLO_VAPID_PRIVATE_KEY={vapid_private}")
    print(f"CLO_VAPID_PUBLIC_KEY={vapid_public}")
    return 0


def cmd_settings_table(_args: argparse.Namespace) -> int:
    from service.settings_table import settings_table

    print(settings_table())
    return 0


def cmd_keys_rotate(args: argparse.Namespace) -> int:
    from service.security.encryption import secret_box
    from service.security.rotation import rotate_secrets

    count = rotate_secrets(_engine(args.database), secret_box(get_settings()))
    print(f"re-encrypted {count:,} secrets under the newest key; older keys may now be removed")
    return 0


def cmd_plaid_sync(args: argparse.Namespace) -> int:
    from service.plaid.client import plaid_client
    from service.plaid.sync import sync_all_items

    settings = get_settings()
    results = sync_all_items(_engine(args.database), plaid_client(settings), _now(args.now))
    for r in results:
        print(
            f"item {r.item_id:>8} {r.status:<16} pages {r.pages:>4} restarts {r.restarts} "
            f"accepted {r.summary.accepted:>6} rewarded {r.summary.rewarded:>6}"
            + (f" ({r.error_code})" if r.error_code else "")
        )
    print(f"{len(results)} items synced")
    return 0


def ingest_file(
    engine,
    path: Path,
    now: datetime,
    *,
    batch_events: int | None = None,
    quiet: bool = False,
    workers: int = 1,
):
    """Stream a feed file through the production pipeline; returns the summary. With several
    workers, records go to processes by member (`service.feeds.shards`)."""
    from contextlib import ExitStack

    from matching.events import Source
    from service.feeds.pipeline import IngestSummary
    from service.feeds.records import open_feed, read_feed
    from service.feeds.shards import ingest_sharded
    from service.progress import tracked
    from service.runtime import process_pipeline
    from settlement.budget_holds import give_back_abandoned

    settings = get_settings()
    # A process that died between reserving a batch's budgets and committing the batch left
    # them held: give them back before taking on new batches.
    give_back_abandoned(engine)
    stream, fmt = open_feed(path)
    with stream, ExitStack() as stack:
        tracker = None if quiet else stack.enter_context(tracked(path.name, path.stat().st_size))

        def progress(received: int) -> None:
            if tracker is not None:
                tracker.update(stream.tell(), received)

        if workers > 1:
            summary = ingest_sharded(
                engine.url.render_as_string(hide_password=False),
                engine,
                read_feed(stream, fmt),
                Source.FILE,
                now,
                workers=workers,
                batch_events=batch_events or settings.ingest_batch_events,
                on_progress=progress,
            ).summary
        else:
            pipeline = process_pipeline(engine, settings, batch_events=batch_events)
            summary = IngestSummary()
            for outcome in pipeline.ingest(read_feed(stream, fmt), Source.FILE, now):
                summary.add(outcome)
                if summary.received % 5000 == 0:
                    progress(summary.received)
        if tracker is not None:  # the whole file read (the reader may have closed it)
            tracker.update(tracker.total, summary.received)
    return summary


def print_summary(summary, out=None) -> None:
    """The ingest's figures as a table: totals, rejections by reason, outcomes."""
    from service.progress import console
    from service.progress import summary as summary_table

    rows: list[tuple[str, object]] = [
        ("received", summary.received),
        ("accepted", summary.accepted),
        ("duplicates", summary.duplicates),
        ("rejected", summary.rejected),
    ]
    by_count = sorted(summary.rejected_reasons.items(), key=lambda kv: -kv[1])
    rows += [(f"  {reason}", n) for reason, n in by_count]
    rows.append(("rewarded", summary.rewarded))
    rows += [(f"  {o}", n) for o, n in sorted(summary.outcomes.items(), key=lambda kv: -kv[1])]
    summary_table(rows, out=console(out))


def cmd_ingest(args: argparse.Namespace) -> int:
    path = Path(args.file)
    if not path.is_file():
        print(f"clo ingest: {path}: no such file", file=sys.stderr)
        return 2
    try:
        summary = ingest_file(_engine(args.database), path, _now(args.now), workers=args.workers)
    except ValueError as exc:
        print(f"clo ingest: {exc}", file=sys.stderr)
        return 2
    print_summary(summary)
    return 0


def cmd_mature(args: argparse.Namespace) -> int:
    from settlement.maturation import run_maturation

    result = run_maturation(_engine(args.database), _now(args.now))
    print(f"expired auths {result.expired_count:,} (released {result.released_amount:,})")
    print(f"matured       {result.matured_count:,} rewards, {result.matured_amount:,} minor units")
    return 0


def cmd_holdout_count(args: argparse.Namespace) -> int:
    from service.scheduler import holdout_population_job

    now = _now(args.now)
    counted = holdout_population_job(_engine(args.database), now)
    print(f"holdout populations counted for {counted:,} offers (up to the last settled midnight)")
    return 0


def cmd_ledger_check(args: argparse.Namespace) -> int:
    from service.ledger.checks import run_ledger_check

    report = run_ledger_check(_engine(args.database), datetime.now(UTC))
    print("\n".join(report.lines()))
    return 0 if report.balanced else 1


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from service.app import create_app

    # One process, one worker (infra/deploy runs several). uvicorn's own access log prints raw
    # paths and query strings: off; ours (clo.access, JSON) names the route. log_config=None
    # keeps the JSON logging `main` set up.
    engine = _engine(args.database)
    app = create_app(engine=engine)
    notifier = None
    if not args.no_notifier:
        from service.notifications.runner import start_notifier

        notifier = start_notifier(engine, get_settings())
    try:
        uvicorn.run(app, host=args.host, port=args.port, access_log=False, log_config=None)
    finally:
        if notifier is not None:
            notifier.stop()
    return 0


def cmd_notify(args: argparse.Namespace) -> int:
    """The member notifier in the foreground (or one turn with --once)."""
    import threading

    from service.notifications.runner import Notifier

    notifier = Notifier(_engine(args.database), get_settings())
    if args.once:
        print(f"{notifier.run_once():,} notifications made or sent")
        return 0
    stop = threading.Event()
    try:
        notifier.run_forever(stop)
    except KeyboardInterrupt:
        stop.set()
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from service.cli_database import remember_demo_database
    from service.demo import DEMO_DATABASE, run_demo

    # remembered before serving (which runs until stopped): later commands use it
    remember_demo_database(args.database or DEMO_DATABASE)
    return run_demo(
        events=args.events,
        seed=args.seed,
        database=args.database,
        serve=args.serve,
        host=args.host,
        port=args.port,
    )


def cmd_bench_replay(args: argparse.Namespace) -> int:
    from infra.bench.replay import run_replay_benchmark

    return run_replay_benchmark(
        events=args.events,
        offers=args.offers,
        database=args.database,
        seed=args.seed,
        batch_events=args.batch_events,
        floor=args.floor,
        workers=args.workers,
    )


def cmd_bench_lift(args: argparse.Namespace) -> int:
    from infra.bench.lift import run_lift_benchmark

    return run_lift_benchmark(
        seeds=args.seeds,
        members=args.members,
        effect_bps=args.effect_bps,
        holdout_bps=args.holdout_bps,
    )


def cmd_bench_notify(args: argparse.Namespace) -> int:
    from infra.bench.notify import run_notify_benchmark

    return run_notify_benchmark(
        rate=args.rate,
        seconds=args.seconds,
        batch=args.batch,
        members=args.members,
        database=args.database,
        notifier_process=args.notifier_process,
    )


def cmd_bench_pages(args: argparse.Namespace) -> int:
    from infra.bench.pages import run_pages_benchmark

    return run_pages_benchmark(
        events=args.events,
        members=args.members,
        offers=args.offers,
        database=args.database,
        reads=args.reads,
        offer_reads=args.offer_reads,
        seed=args.seed,
        keep=args.keep,
        seeded=args.seeded,
    )


def cmd_bench_webhook(args: argparse.Namespace) -> int:
    from infra.bench.webhook import run_webhook_benchmark

    return run_webhook_benchmark(
        rate=args.rate,
        seconds=args.seconds,
        batch=args.batch,
        workers=args.workers,
        database=args.database,
        history_events=args.history_events,
        analyse=args.analyse,
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="clo", description="CLO engine")
    sub = parser.add_subparsers(dest="command", required=True)

    def add(name: str, func, help_text: str, parent=sub) -> argparse.ArgumentParser:
        p = parent.add_parser(name, help=help_text)
        p.set_defaults(func=func)
        p.add_argument("--database", help="database URL (default: CLO_DATABASE_URL)")
        return p

    db = sub.add_parser("db", help="database schema").add_subparsers(dest="db_cmd", required=True)
    add("upgrade", cmd_db_upgrade, "apply migrations", db)

    keys = sub.add_parser("keys", help="API keys").add_subparsers(dest="keys_cmd", required=True)
    p = add("create", cmd_keys_create, "issue an API key (printed once)", keys)
    p.add_argument("--role", required=True, choices=["admin", "publisher", "finance", "merchant"])
    p.add_argument("--merchant-id", type=int)
    p.add_argument("--publisher-id", type=int, help="another key of this publisher (rotation)")
    p.add_argument("--name", default="")
    p.add_argument("--expires-in-days", type=int, help="default: valid until revoked")
    p = add("revoke", cmd_keys_revoke, "revoke an API key or member token by key id", keys)
    p.add_argument("key_id", help="the key id (the token's part before the dot)")
    add("rotate", cmd_keys_rotate, "re-encrypt secrets at rest under the newest key", keys)
    sub.add_parser("secrets", help="secrets").add_subparsers(
        dest="secrets_cmd", required=True
    ).add_parser("generate", help="print fresh secrets as CLO_ environment lines").set_defaults(
        func=cmd_secrets_generate
    )

    sub.add_parser("settings", help="settings").add_subparsers(
        dest="settings_cmd", required=True
    ).add_parser(
        "table", help="every CLO_ setting as a Markdown table (the README's)"
    ).set_defaults(func=cmd_settings_table)

    plaid = sub.add_parser("plaid", help="Plaid feed").add_subparsers(
        dest="plaid_cmd", required=True
    )
    p = add("sync", cmd_plaid_sync, "sync every active Plaid Item (fallback for webhooks)", plaid)
    p.add_argument("--now", help="processing time (ISO 8601, default: now)")

    p = add("ingest", cmd_ingest, "ingest a CSV or NDJSON feed file")
    p.add_argument("file")
    p.add_argument("--now", help="processing time (ISO 8601, default: now)")
    p.add_argument("--workers", type=_positive, default=1, help="processes, split by member")

    p = add("mature", cmd_mature, "expire stale auths and mature rewards past their hold")
    p.add_argument("--now", help="as of (ISO 8601, default: now)")

    p = add(
        "holdout-count",
        cmd_holdout_count,
        "count holdout offers' populations up to the last settled midnight (the daily job)",
    )
    p.add_argument("--now", help="as of (ISO 8601, default: now)")

    ledger = sub.add_parser("ledger", help="ledger tools").add_subparsers(
        dest="ledger_cmd", required=True
    )
    add(
        "check",
        cmd_ledger_check,
        "recompute balances from postings; non-zero on difference",
        ledger,
    )

    p = add("serve", cmd_serve, "serve the API (and the member notifier beside it)")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument(
        "--no-notifier", action="store_true", help="when `clo notify` or the scheduler runs it"
    )

    p = add("notify", cmd_notify, "run the member notifier (outbox to in-app, email, push)")
    p.add_argument("--once", action="store_true", help="one turn, then exit")

    p = add("demo", cmd_demo, "seed a demo world, replay a synthetic feed, report, serve")
    p.add_argument("--events", type=int, default=100_000)
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--serve", action="store_true", help="serve the API afterwards")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8000)

    bench = sub.add_parser("bench", help="benchmarks (print figures)").add_subparsers(
        dest="bench_cmd", required=True
    )
    p = add("replay", cmd_bench_replay, "replay a seeded feed through the batch path", bench)
    p.add_argument("--events", type=int, default=100_000)
    p.add_argument("--offers", type=int, default=1_000)
    p.add_argument("--seed", type=int, default=11)
    p.add_argument("--batch-events", type=int, default=None, help="default: as `clo ingest`")
    p.add_argument("--workers", type=_positive, default=1, help="ingest processes, by member")
    p.add_argument(
        "--floor",
        action="store_true",
        help="time only reading, parsing and storing the events, the least any design pays",
    )
    p = add("lift", cmd_bench_lift, "coverage of the holdout lift interval on seeded data", bench)
    p.add_argument("--seeds", type=int, default=100)
    p.add_argument("--members", type=int, default=5_000)
    p.add_argument("--effect-bps", type=int, default=1_200)
    p.add_argument("--holdout-bps", type=int, default=2_000)

    p = add(
        "notify",
        cmd_bench_notify,
        "signed webhook events to a served API: latency to the member's notification",
        bench,
    )
    p.add_argument("--rate", type=float, default=200, help="events per second")
    p.add_argument("--seconds", type=float, default=20)
    p.add_argument("--batch", type=int, default=10, help="events per signed request")
    p.add_argument(
        "--notifier-process",
        action="store_true",
        help="run `clo notify` as its own process beside `clo serve --no-notifier`",
    )
    p.add_argument("--members", type=int, default=1_000)

    p = add("pages", cmd_bench_pages, "member and merchant page reads on a big database", bench)
    p.add_argument("--events", type=int, default=10_000_000)
    p.add_argument("--members", type=int, default=1_000_000)
    p.add_argument("--offers", type=int, default=1_000)
    p.add_argument("--reads", type=int, default=200, help="random members, each read once")
    p.add_argument("--offer-reads", type=int, default=50, help="random offers")
    p.add_argument("--seed", type=int, default=13)
    p.add_argument("--keep", action="store_true", help="keep the database (prints its URL)")
    p.add_argument("--seeded", help="URL of a kept database: time the reads only")

    p = add(
        "webhook",
        cmd_bench_webhook,
        "signed batches to a served API, open loop: acknowledgement latency, none lost",
        bench,
    )
    p.add_argument("--rate", type=float, default=1_000, help="events per second")
    p.add_argument("--seconds", type=float, default=60)
    p.add_argument("--batch", type=int, default=100, help="events per signed request")
    p.add_argument("--workers", type=int, default=2, help="server processes (uvicorn workers)")
    p.add_argument("--history-events", type=int, default=200_000, help="stored before the clock")
    p.add_argument(
        "--analyse",
        action=argparse.BooleanOptionalAction,
        default=False,
        help="analyse the database after seeding (default: never analysed)",
    )

    from service.settlements.commands import add_commands

    add_commands(sub, add, bench)
    from service.webhooks.commands import add_commands as add_webhook_commands

    add_webhook_commands(sub, add)
    return parser


# Commands that make their own database (or none), so nothing is checked before them.
_OWN_DATABASE = frozenset(
    {
        "cmd_demo",
        "cmd_bench_replay",
        "cmd_bench_lift",
        "cmd_bench_settle",
        "cmd_bench_notify",
        "cmd_bench_pages",
        "cmd_bench_webhook",
    }
)


def main(argv: list[str] | None = None) -> None:
    from service.cli_database import DatabaseUnusable, require_migrated, resolve_url
    from service.observability.logs import configure_logging
    from service.runtime import tune_garbage_collector

    tune_garbage_collector()
    # Log lines are JSON on stderr; what a command prints for people goes to stdout.
    try:
        level = get_settings().log_level
    except ValueError:  # settings the command itself will report on (or not need)
        level = "INFO"
    configure_logging(level)
    args = build_parser().parse_args(argv)
    # Commands that make their own database, or use none (`secrets generate`), skip the check.
    if args.func.__name__ not in _OWN_DATABASE and hasattr(args, "database"):
        args.database = resolve_url(args.database)
        if args.func is not cmd_db_upgrade:
            try:
                require_migrated(args.database)
            except DatabaseUnusable as exc:
                print(f"clo: {exc}", file=sys.stderr)
                sys.exit(2)
    sys.exit(args.func(args))


if __name__ == "__main__":
    main()
