"""The Plaid transaction feed: `/transactions/sync` per Item, through the ingest pipeline.

One sync is a loop of pages from the Item's saved cursor to the end (`has_more` false),
collected in memory (bounded by `max_pages`); nothing is written while it runs. On
TRANSACTIONS_SYNC_MUTATION_DURING_PAGINATION the loop starts again from the cursor it began
with, and the pages of the failed loop are dropped. Only a complete loop is turned into
events (see `mapping`) and ingested with Source.PLAID; after that the transaction states and
the new cursor are saved in one transaction, the cursor with compare-and-set. A crash between
the two re-syncs the same changes, which produce the same external ids: duplicates, nothing
changed. ITEM_LOGIN_REQUIRED (and a revoked or removed Item) marks the Item
`relink_required`; what was accepted before stays.

Right after linking Plaid has pulled nothing yet: the sync answers NOT_READY with no changes
and an empty cursor, then INITIAL_UPDATE_COMPLETE (30 days), then HISTORICAL_UPDATE_COMPLETE;
the status is kept on the Item. A rate limit, an institution down, a 5xx or a network error
is retried with exponential backoff (tenacity) page by page; if it outlasts the retries the
sync ends `retry_later` with nothing written, so the cursor stays where the last complete
sync left it and the next scheduled sync starts there again.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import plaid
from plaid.api.plaid_api import PlaidApi
from plaid.model.transactions_sync_request import TransactionsSyncRequest
from sqlalchemy import Engine
from tenacity import Retrying, retry_if_exception, stop_after_attempt, wait_exponential

from matching.events import Source
from service.config import Settings, get_settings
from service.feeds.pipeline import IngestPipeline, IngestSummary
from service.plaid import repository as repo
from service.plaid.client import (
    MUTATION_DURING_PAGINATION,
    RELINK_CODES,
    error_info,
    failure_code,
    is_transient,
)
from service.plaid.mapping import Planner, merchant_key
from service.security.encryption import secret_box

RELINK_REQUIRED = "relink_required"
ACTIVE = "active"
NOT_READY = "NOT_READY"


@dataclass
class SyncResult:
    item_id: int
    status: str  # synced | not_ready | retry_later | relink_required | error | skipped | ...
    pages: int = 0
    restarts: int = 0
    retries: int = 0
    changes: int = 0
    error_code: str | None = None
    update_status: str | None = None  # Plaid's transactions_update_status
    summary: IngestSummary = field(default_factory=IngestSummary)


class SyncFailed(RuntimeError):
    pass


def _pipeline(engine: Engine, settings: Settings) -> IngestPipeline:
    return IngestPipeline(engine, settings)


def _sync_page(
    client: PlaidApi, request: dict[str, Any], settings: Settings, result: SyncResult
) -> Any:
    """One /transactions/sync call, retried with backoff while Plaid says "later"."""

    def note_retry(_state: object) -> None:
        result.retries += 1

    retrying = Retrying(
        retry=retry_if_exception(is_transient),
        stop=stop_after_attempt(settings.plaid_retry_attempts),
        wait=wait_exponential(
            multiplier=settings.plaid_retry_initial_wait_s, max=settings.plaid_retry_max_wait_s
        ),
        before_sleep=note_retry,
        reraise=True,
    )
    return retrying(client.transactions_sync, TransactionsSyncRequest(**request))


def _fetch_all(
    client: PlaidApi, access_token: str, cursor: str, settings: Settings, result: SyncResult
) -> tuple[list[Any], list[Any], list[Any], str]:
    """Every page from `cursor` to the end; restarts on mutation during pagination."""
    for _attempt in range(settings.plaid_sync_max_restarts + 1):
        added: list[Any] = []
        modified: list[Any] = []
        removed: list[Any] = []
        position = cursor
        try:
            for _page in range(settings.plaid_sync_max_pages):
                request: dict[str, Any] = {
                    "access_token": access_token,
                    "count": settings.plaid_sync_page_size,
                }
                if position:
                    request["cursor"] = position
                page = _sync_page(client, request, settings, result)
                result.pages += 1
                result.update_status = str(page.transactions_update_status)
                added += page.added
                modified += page.modified
                removed += page.removed
                position = page.next_cursor
                if not page.has_more:
                    return added, modified, removed, position
            raise SyncFailed(f"more than {settings.plaid_sync_max_pages} pages in one sync")
        except plaid.ApiException as exc:
            if error_info(exc).error_code != MUTATION_DURING_PAGINATION:
                raise
            result.restarts += 1  # drop this loop's pages; start again from `cursor`
    raise SyncFailed(f"still mutating after {settings.plaid_sync_max_restarts} restarts")


def sync_item(
    engine: Engine,
    client: PlaidApi,
    item_id: int,
    now: datetime,
    *,
    settings: Settings | None = None,
    pipeline: IngestPipeline | None = None,
) -> SyncResult:
    settings = settings or get_settings()
    result = SyncResult(item_id, "synced")
    with engine.connect() as conn:
        item = repo.item_row(conn, item_id)
        if item is None:
            result.status = "not_found"
            return result
        cards = repo.cards_by_account(conn, item_id)
        states = repo.tx_states(conn, item_id)
    access_token = secret_box(settings).decrypt(item.access_token_encrypted)
    start = item.sync_cursor
    try:
        added, modified, removed, cursor = _fetch_all(client, access_token, start, settings, result)
    except Exception as exc:
        if is_transient(exc):
            # Nothing written: the cursor stays, and the next scheduled sync starts from it.
            result.status = "retry_later"
            code, http_status = failure_code(exc)
            result.error_code = code
            with engine.begin() as conn:
                repo.set_status(conn, item_id, ACTIVE, code, now, error_status=http_status)
            return result
        if not isinstance(exc, plaid.ApiException):
            raise
        info = error_info(exc)
        result.error_code = info.error_code
        if info.error_code in RELINK_CODES:
            result.status = RELINK_REQUIRED
            with engine.begin() as conn:
                repo.set_status(
                    conn, item_id, RELINK_REQUIRED, info.error_code, now, error_status=info.status
                )
            return result
        result.status = "error"
        return result
    result.changes = len(added) + len(modified) + len(removed)
    if result.update_status == NOT_READY or (not cursor and start):
        # Plaid has pulled nothing yet (an empty cursor): keep the cursor we have.
        result.status = "not_ready"
        with engine.begin() as conn:
            repo.set_update_status(conn, item_id, result.update_status or NOT_READY, now)
        return result
    plan = Planner(states, cards, now).plan(added, modified, removed)
    pipeline = pipeline or _pipeline(engine, settings)
    fresh: list[str] = []
    for outcome in pipeline.ingest(plan.records, Source.PLAID, now):
        result.summary.add(outcome)
        if outcome.status == "accepted" and outcome.external_id:
            fresh.append(outcome.external_id)
    with engine.begin() as conn:
        advanced = repo.advance_cursor(
            conn,
            item_id,
            expected=start,
            cursor=cursor,
            update_status=result.update_status,
            now=now,
        )
        if not advanced:
            result.status = "skipped"  # a concurrent sync of the same changes saved first
            return result
        repo.save_tx_states(conn, item_id, plan.states.values(), now)
        _note_unresolved(conn, plan.records, fresh, now)
    return result


def _note_unresolved(conn, records, fresh: list[str], now: datetime) -> None:
    """Merchant entity ids (else names) of newly accepted events no brand resolved."""
    if not fresh:
        return
    brandless = {r.external_id for r in repo.unmatched_brandless(conn, fresh)}
    counts: Counter[tuple[str, str]] = Counter()
    names: dict[tuple[str, str], str | None] = {}
    for record in records:
        fields = record.fields or {}
        if fields.get("external_id") not in brandless:
            continue
        key = merchant_key(fields | {"merchant_entity_id": fields.get("brand_hint")})
        if key is None:
            continue
        kind = "entity_id" if fields.get("brand_hint") else "name"
        counts[(kind, key)] += 1
        names[(kind, key)] = fields.get("merchant_name")
    for (kind, key), count in sorted(counts.items()):
        repo.note_unresolved(conn, kind, key, names[(kind, key)], count, now)


def sync_all_items(
    engine: Engine, client: PlaidApi, now: datetime, *, settings: Settings | None = None
) -> list[SyncResult]:
    """The scheduled fallback for missed webhooks: every active Item, one at a time."""
    settings = settings or get_settings()
    pipeline = _pipeline(engine, settings)
    results: list[SyncResult] = []
    after_id = 0
    while True:
        with engine.connect() as conn:
            ids = repo.item_ids(conn, after_id=after_id, limit=200)
        if not ids:
            return results
        for item_id in ids:
            with engine.connect() as conn:
                row = repo.item_row(conn, item_id)
            if row is None or row.status != ACTIVE:
                continue
            results.append(
                sync_item(engine, client, item_id, now, settings=settings, pipeline=pipeline)
            )
        after_id = ids[-1]


def act_on_webhook(
    engine: Engine,
    client: PlaidApi,
    body: dict[str, Any],
    now: datetime,
    *,
    settings: Settings | None = None,
    pipeline: IngestPipeline | None = None,
) -> dict[str, Any]:
    """What a verified webhook asks for: a sync, or an Item status change."""
    item_ref = body.get("item_id")
    if not isinstance(item_ref, str):
        return {"status": "ignored", "reason": "no_item"}
    with engine.connect() as conn:
        item = repo.item_by_ref(conn, item_ref)
    if item is None:
        return {"status": "ignored", "reason": "unknown_item"}
    kind, code = body.get("webhook_type"), body.get("webhook_code")
    if kind == "TRANSACTIONS" and code in ("SYNC_UPDATES_AVAILABLE", "DEFAULT_UPDATE"):
        result = sync_item(engine, client, item.id, now, settings=settings, pipeline=pipeline)
        return {"status": result.status, "accepted": result.summary.accepted}
    if kind == "ITEM" and code == "LOGIN_REPAIRED":
        with engine.begin() as conn:
            repo.set_status(conn, item.id, ACTIVE, None, now)
        result = sync_item(engine, client, item.id, now, settings=settings, pipeline=pipeline)
        return {"status": result.status, "accepted": result.summary.accepted}
    if kind == "ITEM" and code == "ERROR":
        return _item_error(engine, item.id, body.get("error"), now)
    if kind == "ITEM" and code == "USER_PERMISSION_REVOKED":
        with engine.begin() as conn:
            repo.set_status(conn, item.id, RELINK_REQUIRED, code, now)
        return {"status": RELINK_REQUIRED}
    return {"status": "ignored", "reason": "not_acted_on"}


def _item_error(engine: Engine, item_id: int, raw_error: Any, now: datetime) -> dict[str, Any]:
    """An ITEM ERROR webhook: its error code and HTTP status go on the Item. A code that needs
    the member (a login, a consent) makes it `relink_required`; any other (an institution
    down, a Plaid error) leaves it active for the next sync, which retries."""
    error = raw_error if isinstance(raw_error, dict) else {}
    error_code = str(error.get("error_code") or "ERROR")[:64]
    raw_status = error.get("status")
    error_status = raw_status if isinstance(raw_status, int) and 100 <= raw_status < 600 else None
    status = RELINK_REQUIRED if error_code in RELINK_CODES else ACTIVE
    with engine.begin() as conn:
        repo.set_status(conn, item_id, status, error_code, now, error_status=error_status)
    return {"status": status}
