"""`clo bench notify`: how long from a signed card event arriving at the webhook to the
member's notification, in-app and by email.

A fresh database (SQLite by default, or `--database` naming an empty one) gets one merchant
with a 5% offer and members with a card and an email address each. `clo serve` runs as its
own process on 127.0.0.1 with the notifier beside it (as in production) and sends email
over SMTP to a local aiosmtpd server run by this process. Events are posted one per
request, signed as a card network signs them, at `--rate` per second for `--seconds`, from
a few threads on a fixed schedule. A watcher reads the notification table every 20 ms and
stamps each row when it is first visible; the SMTP server stamps each message on receipt.
Latency is from just before an event's POST to those stamps. Prints figures; asserts
nothing about time.
"""

from __future__ import annotations

import json
import re
import secrets
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from sqlalchemy import Engine, create_engine, insert, select

from infra.bench import served
from infra.mail.smtp_sink import free_port
from service.db import make_engine, normalize_url
from service.notifications.tables import Notification
from service.schema import upgrade
from service.tables import Card, CardEventRow, Location, Member, Merchant, Offer
from settlement.budget import ensure_budget

POSTERS = 8
WATCH_EVERY_S = 0.02
MESSAGE_ID = re.compile(r"<notification-(\d+)@")


@dataclass
class Timings:
    posted_at: dict[str, float] = field(default_factory=dict)  # external id -> POST start
    answered_s: list[float] = field(default_factory=list)
    event_ids: dict[str, int] = field(default_factory=dict)
    refused: Counter[str] = field(default_factory=Counter)
    lock: threading.Lock = field(default_factory=threading.Lock)


def _seed(engine: Engine, members: int, now: datetime) -> None:
    with engine.begin() as conn:
        conn.execute(
            insert(Merchant.__table__).values(
                id=1, brand_name="Blue Bottle", timezone="UTC", currency="USD",
                default_commission_bps=2000, created_at=now,
            )
        )  # fmt: skip
        conn.execute(
            insert(Location.__table__).values(
                id=1, merchant_id=1, name="Blue Bottle Soho", mid="MID-BB-1", created_at=now
            )
        )
        conn.execute(
            insert(Offer.__table__).values(
                id=1, merchant_id=1, title="5% back", status="live", kind="cashback",
                reward_type="percent", currency="USD", rate_bps=500, reward_amount=0,
                min_spend_amount=0, brand_wide=True, starts_at=now - timedelta(days=1),
                dayparts_json="[]", bonus_windows_json="[]", audience="everyone",
                lookback_days=0, min_member_tier=0, birthday_bonus_bps=0,
                activation_required=False, hold_days=30, commission_bps=2000,
                commission_base="reward", holdout_bps=0, created_at=now, updated_at=now,
            )
        )  # fmt: skip
        ensure_budget(conn, offer_id=1, currency="USD", budget_amount=None, max_redemptions=None)
        conn.execute(
            insert(Member.__table__),
            [
                {"id": m, "display_name": f"bench {m}", "email": f"m{m}@bench.example",
                 "tier": 0, "created_at": now}
                for m in range(1, members + 1)
            ],
        )  # fmt: skip
        conn.execute(
            insert(Card.__table__),
            [
                {"id": m, "member_id": m, "provider": "publisher", "provider_token": f"tok{m}",
                 "fingerprint": f"fp{m}", "brand": "visa", "last4": "4242", "status": "active",
                 "created_at": now}
                for m in range(1, members + 1)
            ],
        )  # fmt: skip


def _serve(
    url: str, port: int, smtp_port: int, feed_key: str, log: Path, notifier_process: bool
) -> list[subprocess.Popen[bytes]]:
    """`clo serve` with the notifier on a thread beside it, or `clo serve --no-notifier`
    and `clo notify` as two processes."""
    env = served.server_env(
        url, port, feed_key, CLO_SMTP_HOST="127.0.0.1", CLO_SMTP_PORT=str(smtp_port)
    )
    serve = served.clo_command("serve", "--port", str(port))
    commands = [[*serve, "--no-notifier"], served.clo_command("notify")]
    return served.start(commands if notifier_process else [serve], env, log)


def _post_all(
    base: str, feed_key: str, events: list[dict], rate: float, batch: int, timings: Timings
) -> float:
    """Post `batch` events per request on a fixed schedule (`rate` events per second)."""
    batches = [events[i : i + batch] for i in range(0, len(events), batch)]
    start = time.monotonic() + 0.5

    def worker(share: int) -> None:
        with httpx.Client(base_url=base, timeout=30) as client:
            for n in range(share, len(batches), POSTERS):
                delay = start + n * batch / rate - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
                body = json.dumps({"events": batches[n]}).encode()
                sent = time.time()
                resp = served.post_signed(client, feed_key, body)
                with timings.lock:
                    timings.answered_s.append(time.time() - sent)
                    if resp.status_code != 200:
                        timings.refused[f"{resp.status_code} {resp.text[:120]}"] += 1
                        continue
                    for event, result in zip(batches[n], resp.json()["results"], strict=True):
                        timings.posted_at[event["external_id"]] = sent
                        timings.event_ids[event["external_id"]] = result["event_id"]

    began = time.monotonic()
    with ThreadPoolExecutor(POSTERS) as pool:
        list(pool.map(worker, range(POSTERS)))
    return time.monotonic() - began


def _watch(url: str, seen: dict[int, tuple[int, float]], stop: threading.Event) -> None:
    """notification id -> (reward id, when first visible), read every 20 ms.

    A plain engine: the project's SQLite engine begins every transaction IMMEDIATE (the
    write lock), and a watcher must read beside the writers, as WAL allows, not queue
    with them."""
    engine = create_engine(normalize_url(url))
    t = Notification.__table__
    last = 0
    while not stop.is_set():
        with engine.connect() as conn:
            rows = conn.execute(
                select(t.c.id, t.c.reward_id).where(t.c.id > last).order_by(t.c.id)
            ).all()
        stamp = time.time()
        for notification_id, reward_id in rows:
            seen[notification_id] = (reward_id, stamp)
            last = notification_id
        stop.wait(WATCH_EVERY_S)
    engine.dispose()


@contextmanager
def _smtp_process(port: int, log: Path) -> Iterator[subprocess.Popen[bytes]]:
    """The SMTP server in its own process, writing `<time> <Message-ID>` per message."""
    with log.open("wb") as out:
        command = [sys.executable, "-m", "infra.mail.smtp_sink", "--port", str(port)]
        process = subprocess.Popen(command, stdout=out)  # noqa: S603
    try:
        deadline = time.monotonic() + 20
        while b"ready" not in log.read_bytes():
            if time.monotonic() > deadline or process.poll() is not None:
                raise SystemExit("clo bench notify: the SMTP server did not start")
            time.sleep(0.05)
        yield process
    finally:
        process.terminate()
        process.wait(timeout=10)


def _mails(log: Path) -> list[tuple[float, str]]:
    mails = []
    for line in log.read_text().splitlines():
        stamp, _, message_id = line.partition(" ")
        if message_id:
            mails.append((float(stamp), message_id))
    return mails


def run_notify_benchmark(
    *,
    rate: float,
    seconds: float,
    batch: int,
    members: int,
    database: str | None,
    notifier_process: bool,
) -> int:
    with tempfile.TemporaryDirectory(prefix="clo-bench-notify-") as tmp:
        url = database or f"sqlite:///{Path(tmp) / 'bench-notify.db'}"
        engine = make_engine(url)
        upgrade(engine)
        now = datetime.now(UTC)
        _seed(engine, members, now)
        count = int(rate * seconds)
        events = [
            {
                "external_id": f"bench-{i}",
                "kind": "auth",
                "card_id": 1 + i % members,
                "amount": 4_000,
                "currency": "USD",
                "occurred_at": now.isoformat(),
                "mid": "MID-BB-1",
            }
            for i in range(count)
        ]
        feed_key = secrets.token_urlsafe(32)
        port = free_port("127.0.0.1")
        base = f"http://127.0.0.1:{port}"
        seen: dict[int, tuple[int, float]] = {}
        stop = threading.Event()
        smtp_port = free_port("127.0.0.1")
        smtp_log = Path(tmp) / "smtp.log"
        with _smtp_process(smtp_port, smtp_log):
            servers = _serve(
                url, port, smtp_port, feed_key, Path(tmp) / "serve.log", notifier_process
            )
            try:
                served.wait_up(base, servers, "clo bench notify")
                watcher = threading.Thread(target=_watch, args=(url, seen, stop), daemon=True)
                watcher.start()
                timings = Timings()
                where = "`clo notify` process" if notifier_process else "thread in `clo serve`"
                print(
                    f"posting {count:,} events at {rate:g}/s, {batch} per request, to {base} "
                    f"({POSTERS} connections); notifier: {where}"
                )
                elapsed = _post_all(base, feed_key, events, rate, batch, timings)
                deadline = time.monotonic() + 15
                while time.monotonic() < deadline and (
                    len(seen) < len(timings.event_ids) or len(_mails(smtp_log)) < len(seen)
                ):
                    time.sleep(0.1)
                stop.set()
                watcher.join()
            except BaseException:
                tail = (Path(tmp) / "serve.log").read_text(errors="replace")[-3000:]
                print(f"the server's log ends:\n{tail}", file=sys.stderr)
                raise
            finally:
                served.stop(servers)
            mails = _mails(smtp_log)
            error = served.last_error(Path(tmp) / "serve.log")
        with engine.connect() as conn:
            reward_of_event = dict(
                conn.execute(
                    select(CardEventRow.__table__.c.id, CardEventRow.__table__.c.reward_id)
                ).all()
            )
        engine.dispose()

    posted_at_reward = {
        reward_of_event[event_id]: timings.posted_at[external_id]
        for external_id, event_id in timings.event_ids.items()
        if reward_of_event.get(event_id) is not None
    }
    in_app = [stamp - posted_at_reward[r] for r, stamp in seen.values() if r in posted_at_reward]
    reward_of_notification = {n: r for n, (r, _) in seen.items()}
    by_email = []
    for received_at, message_id in mails:
        found = MESSAGE_ID.match(message_id)
        reward = reward_of_notification.get(int(found.group(1))) if found else None
        if reward in posted_at_reward:
            by_email.append(received_at - posted_at_reward[reward])
    posted = len(timings.posted_at)
    refused = timings.refused.total()
    print(f"posted     {posted:>7,} in {elapsed:.1f} s ({posted / elapsed:,.0f}/s)")
    for reason, n in timings.refused.most_common(5):
        print(f"  requests refused {n:>5,}: {reason}")
    if refused and error is not None:
        print(f"the server's last error: {error}")
    print(f"rewarded   {len(posted_at_reward):>7,}")
    print(f"in-app     {len(in_app):>7,}   emails {len(by_email):,}")
    print(served.figures("webhook answer", timings.answered_s))
    print(served.figures("event -> in-app", in_app))
    print(served.figures("event -> email received", by_email))
    return 0 if len(in_app) == len(posted_at_reward) else 1
