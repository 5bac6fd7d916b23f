"""Card events in: the signed network webhook."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from starlette.concurrency import run_in_threadpool

from matching.events import Source
from service.feeds.records import record_from_json_value
from service.feeds.service import pipeline_for
from service.feeds.signing import (
    KEY_ID_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    verify,
)
from service.problems import InvalidInput, PayloadTooLarge

# The card-number guard is not applied wholesale here: a card number inside one event rejects
# that event (recorded masked, with its reason) and the rest of the batch goes on.
router = APIRouter(prefix="/feeds", tags=["feeds"], route_class=APIRoute)
MAX_BODY_BYTES = 4_000_000


# The answer is built as JSON here: FastAPI's encoder would walk every result of a batch of a
# thousand again (1 ms per 100 results); the schema still documents it as an object.
@router.post(
    "/network/events",
    summary="Push a signed batch of card events (up to 1,000)",
    response_model=dict[str, Any],
)
async def push_network_events(request: Request) -> JSONResponse:
    settings = request.app.state.settings
    # A client or key id cut off for failed signatures costs no body read and no HMAC.
    address = request.client.host if request.client else ""
    key_id = request.headers.get(KEY_ID_HEADER) or ""
    limiter = request.app.state.auth_limiter
    limiter.check(key_id=key_id, address=address)
    body = await request.body()
    if len(body) > MAX_BODY_BYTES:
        raise PayloadTooLarge(
            f"body exceeds {MAX_BODY_BYTES} bytes", field="body", reason="too_large"
        )
    now = datetime.now(UTC)
    with limiter.counting_failures(address=address, key_id=key_id):
        verify(
            settings.feed_signing_keys,
            key_id=request.headers.get(KEY_ID_HEADER),
            timestamp=request.headers.get(TIMESTAMP_HEADER),
            signature=request.headers.get(SIGNATURE_HEADER),
            body=body,
            now_unix=int(now.timestamp()),
            window_seconds=settings.feed_replay_window_seconds,
        )
    try:
        payload = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise InvalidInput("body is not valid JSON", field="body", reason="invalid_json") from None
    except RecursionError:
        raise InvalidInput("body nests too deeply", field="body", reason="too_deep") from None
    events = payload.get("events") if isinstance(payload, dict) else None
    if not isinstance(events, list):
        raise InvalidInput(
            "body must be an object with an 'events' list", field="events", reason="missing_field"
        )
    limit = settings.feed_batch_max_events
    if len(events) > limit:
        raise InvalidInput(
            f"at most {limit} events per request, got {len(events)}",
            field="events",
            reason="too_many_events",
        )
    records = [
        record_from_json_value(e, json.dumps(e, separators=(",", ":"), default=str), i)
        for i, e in enumerate(events)
    ]
    pipeline = pipeline_for(request.app)
    outcomes = await run_in_threadpool(pipeline.ingest_batch, records, Source.NETWORK, now)
    counts = {"accepted": 0, "duplicate": 0, "rejected": 0}
    for o in outcomes:
        counts[o.status] += 1
    return JSONResponse({**counts, "results": [o.as_dict() for o in outcomes]})
