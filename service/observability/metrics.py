"""The engine's Prometheus metrics and the one place each is recorded.

Counters and histograms live in prometheus-client's default registry. With several API
workers (and the scheduler and `clo` commands beside them) set PROMETHEUS_MULTIPROC_DIR to
one empty directory shared by all of them, before they start: every process then writes its
values there and /metrics sums them (prometheus-client's multiprocess mode). Without it each
process reports only its own values.

Label values are closed sets (sources, reasons, outcomes, route templates, provider
endpoints with ids replaced): never a raw path, an id or anything a client typed.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client import multiprocess as prometheus_multiprocess

from service.feeds.pipeline import IngestOutcome
from settlement.runs.runner import RunOutcome

MULTIPROC_DIR_ENV = "PROMETHEUS_MULTIPROC_DIR"
CONTENT_TYPE = CONTENT_TYPE_LATEST
# Outcomes of accepted events that mean the offer's budget could not be reserved.
BUDGET_REFUSED_REASON = "budget_exhausted"

FEED_EVENTS_RECEIVED = Counter(
    "clo_feed_events_received_total", "Card events received, by source", ["source"]
)
FEED_EVENTS_ACCEPTED = Counter(
    "clo_feed_events_accepted_total", "Card events accepted (stored once), by source", ["source"]
)
FEED_EVENTS_DUPLICATE = Counter(
    "clo_feed_events_duplicate_total",
    "Card events already stored under the same (source, external_id)",
    ["source"],
)
FEED_EVENTS_REJECTED = Counter(
    "clo_feed_events_rejected_total",
    "Card events rejected (kept with the reason), by source and reason",
    ["source", "reason"],
)
REWARDS = Counter(
    "clo_rewards_total",
    "What accepted card events did to rewards: rewarded, no_reward, no_offer, voided, ...",
    ["outcome"],
)
BUDGET_RESERVATIONS_REFUSED = Counter(
    "clo_budget_reservations_refused_total",
    "Rewards not paid because the offer's budget could not be reserved",
)
FEED_BATCH_SECONDS = Histogram(
    "clo_feed_batch_duration_seconds",
    "Time to ingest one batch of card events, by source",
    ["source"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
)
FEED_BATCH_EVENTS = Histogram(
    "clo_feed_batch_events",
    "Card events in one ingested batch, by source",
    ["source"],
    buckets=(1, 10, 100, 500, 1_000, 5_000, 20_000, 50_000),
)
# Gauges from short-lived processes (`clo ledger check`): the most recent value wins.
LEDGER_CHECK_BALANCED = Gauge(
    "clo_ledger_check_balanced",
    "1 when the last ledger check found cached balances equal to the postings, else 0",
    multiprocess_mode="mostrecent",
)
LEDGER_CHECK_TIMESTAMP = Gauge(
    "clo_ledger_check_timestamp_seconds",
    "Unix time of the last ledger check (its age: time() - this)",
    multiprocess_mode="mostrecent",
)
SETTLEMENT_STEP_SECONDS = Histogram(
    "clo_settlement_step_duration_seconds",
    "Time of one settlement run step, by step and the run's state after the call",
    ["step", "state"],
    buckets=(0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300, 900),
)
OUTBOUND_SECONDS = Histogram(
    "clo_outbound_request_duration_seconds",
    "Calls to Stripe and Plaid, by provider and endpoint (ids replaced by {id})",
    ["provider", "endpoint"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
OUTBOUND_ERRORS = Counter(
    "clo_outbound_request_errors_total",
    "Calls to Stripe and Plaid that failed (no answer or an error status)",
    ["provider", "endpoint"],
)
HTTP_REQUEST_SECONDS = Histogram(
    "clo_http_request_duration_seconds",
    "API and web requests, by method, route template and status",
    ["method", "route", "status"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)


def count_ingested(source: str, outcomes: Iterable[IngestOutcome]) -> None:
    """Count a batch's outcomes (as the endpoint or command got them back)."""
    received = accepted = duplicate = budget_refused = 0
    rejected: dict[str, int] = {}
    rewards: dict[str, int] = {}
    for o in outcomes:
        received += 1
        if o.status == "accepted":
            accepted += 1
            rewards[o.outcome or "unknown"] = rewards.get(o.outcome or "unknown", 0) + 1
            budget_refused += o.reason == BUDGET_REFUSED_REASON
        elif o.status == "duplicate":
            duplicate += 1
        else:
            rejected[o.reason or "unknown"] = rejected.get(o.reason or "unknown", 0) + 1
    FEED_EVENTS_RECEIVED.labels(source).inc(received)
    FEED_EVENTS_ACCEPTED.labels(source).inc(accepted)
    FEED_EVENTS_DUPLICATE.labels(source).inc(duplicate)
    for reason, n in rejected.items():
        FEED_EVENTS_REJECTED.labels(source, reason).inc(n)
    for outcome, n in rewards.items():
        REWARDS.labels(outcome).inc(n)
    if budget_refused:
        BUDGET_RESERVATIONS_REFUSED.inc(budget_refused)


@contextmanager
def timed_batch(source: str, events: int) -> Iterator[None]:
    started = time.perf_counter()
    try:
        yield
    finally:
        FEED_BATCH_SECONDS.labels(source).observe(time.perf_counter() - started)
        FEED_BATCH_EVENTS.labels(source).observe(events)


def record_ledger_check(*, balanced: bool, now_unix: float) -> None:
    LEDGER_CHECK_BALANCED.set(1 if balanced else 0)
    LEDGER_CHECK_TIMESTAMP.set(now_unix)


def record_settlement(outcome: RunOutcome) -> None:
    for step, ms in outcome.timings_ms.items():
        SETTLEMENT_STEP_SECONDS.labels(step, outcome.status).observe(ms / 1000)


def render() -> bytes:
    """The exposition text: this process's registry, or every process's in multiprocess
    mode."""
    if os.environ.get(MULTIPROC_DIR_ENV):
        registry = CollectorRegistry()
        prometheus_multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry)
    return generate_latest(REGISTRY)


def worker_exited(pid: int) -> None:
    """A worker process is gone: drop its live gauges (gunicorn's child_exit hook)."""
    if os.environ.get(MULTIPROC_DIR_ENV):
        prometheus_multiprocess.mark_process_dead(pid)
