"""What the benchmarks of a served API share: the server's environment and processes, signed
posts to the network webhook, waiting for the server, and latency figures."""

from __future__ import annotations

import json
import os
import re
import secrets
import statistics
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

import httpx

from service.feeds.signing import signed_headers

KEY_ID = "bench"
WEBHOOK_PATH = "/v1/feeds/network/events"
EXCEPTION_LINE = re.compile(r"[A-Za-z_][\w.]*(Error|Exception): ")
GUNICORN_CONFIG = Path(__file__).resolve().parents[1] / "deploy" / "gunicorn.conf.py"


def server_env(url: str, port: int, feed_key: str, **extra: str) -> dict[str, str]:
    """The environment of a server on 127.0.0.1:`port` over `url`, accepting batches signed
    with `feed_key` under KEY_ID; `extra` adds or overrides CLO_ settings."""
    env = dict(os.environ)
    env.update(
        {
            "CLO_ENVIRONMENT": "demo",
            "CLO_DATABASE_URL": url,
            "CLO_FEED_SIGNING_KEYS": json.dumps({KEY_ID: feed_key}),
            "CLO_WEB_SECRET_KEY": secrets.token_urlsafe(32),
            "CLO_WEB_ORIGIN": f"http://127.0.0.1:{port}",
            **extra,
        }
    )
    return env


def clo_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "service.cli", *args]


def gunicorn_command() -> list[str]:
    """The API as infra/deploy runs it: gunicorn with uvicorn workers (CLO_API_BIND and
    CLO_API_WORKERS in the environment say where and how many)."""
    return [sys.executable, "-m", "gunicorn", "--config", str(GUNICORN_CONFIG), "service.asgi:app"]


def start(
    commands: Sequence[list[str]], env: Mapping[str, str], log: Path
) -> list[subprocess.Popen[bytes]]:
    """The processes, their output to `log` (for a look when figures surprise)."""
    with log.open("ab") as out:
        return [
            subprocess.Popen(command, env=dict(env), stdout=out, stderr=subprocess.STDOUT)  # noqa: S603
            for command in commands
        ]


def stop(processes: Sequence[subprocess.Popen[bytes]]) -> None:
    for process in processes:
        process.terminate()
    for process in processes:
        process.wait(timeout=30)


def wait_up(
    base: str, processes: Sequence[subprocess.Popen[bytes]], who: str, timeout_s: float = 60
) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if any(p.poll() is not None for p in processes):
            raise SystemExit(f"{who}: the server exited at start")
        try:
            if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise SystemExit(f"{who}: the server did not start")


def signed(feed_key: str, body: bytes) -> dict[str, str]:
    """The headers of one signed batch, stamped now."""
    headers = signed_headers(KEY_ID, feed_key, body, now_unix=int(time.time()))
    return {**headers, "Content-Type": "application/json"}


def post_signed(client: httpx.Client, feed_key: str, body: bytes) -> httpx.Response:
    """POST one signed batch; a dropped connection is retried (the webhook is idempotent
    by the event's id, so a retry returns the first result)."""
    for attempt in range(3):
        try:
            return client.post(WEBHOOK_PATH, content=body, headers=signed(feed_key, body))
        except httpx.TransportError:
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


def last_error(log: Path) -> str | None:
    """The last exception of a server's log, if it logged one: from a JSON log line (the
    traceback in one of its fields) or from a plain traceback."""
    lines = log.read_text(errors="replace").splitlines()
    for n in range(len(lines) - 1, -1, -1):
        if "Traceback" not in lines[n]:
            continue
        try:
            fields = json.loads(lines[n])
        except ValueError:  # a plain traceback: the first unindented line after it
            after = lines[n + 1 :]
            return next((line for line in after if line and not line[0].isspace()), "")[:500]
        trace = next(str(v) for v in fields.values() if "Traceback" in str(v)).splitlines()
        # The exception's own line ("module.Error: message"), not a note printed after it.
        raised = [line for line in trace if EXCEPTION_LINE.match(line)]
        return (raised or trace or [""])[-1][:500]
    return None


def figures(name: str, values: list[float]) -> str:
    if len(values) < 2:
        return f"{name:<28} n={len(values)}"
    cuts = statistics.quantiles(values, n=100, method="inclusive")
    return (
        f"{name:<28} n={len(values):>6,}  p50 {cuts[49] * 1000:7.0f} ms  "
        f"p99 {cuts[98] * 1000:7.0f} ms  max {max(values) * 1000:7.0f} ms"
    )
