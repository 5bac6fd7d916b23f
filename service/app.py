"""The FastAPI application: versioned API under /v1, OpenAPI at /docs."""

from __future__ import annotations

import importlib

from fastapi import APIRouter, FastAPI
from sqlalchemy import Engine

from service.config import Settings, get_settings
from service.db import make_engine
from service.observability.health import router as health_router
from service.openapi_problems import document_problems
from service.problems import install_problem_handlers
from service.routing import GuardedRoute
from service.runtime import process_pipeline
from service.security.access_log import AccessLog
from service.security.auth_limits import FailedAuthLimiter
from service.security.body_limit import BodySizeLimit

# Each domain package has an `endpoints.py` with a `router`.
DOMAINS = (
    "merchants",
    "offers",
    "members",
    "cards",
    "feeds",
    "events",
    "attribution",
    "settlements",
    "ledger",
    "stripe_linking",
    "plaid",
    "credentials",
    "webhooks",
    "notifications",
    "claims",
)


def create_app(engine: Engine | None = None, settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    app = FastAPI(
        title="CLO engine",
        version="0.1.0",
        description="Card-linked offers: card events, offer matching, cashback ledger.",
    )
    app.state.settings = settings
    app.state.engine = engine or make_engine(settings.database_url)
    # Webhook batches are one request each (at most `feed_batch_max_events`).
    app.state.pipeline = process_pipeline(
        app.state.engine, settings, batch_events=settings.feed_batch_max_events
    )
    app.state.auth_limiter = FailedAuthLimiter(
        per_key=settings.auth_failures_per_key,
        per_address=settings.auth_failures_per_address,
        storage_uri=settings.rate_limit_storage_uri,
    )
    install_problem_handlers(app)
    v1 = APIRouter(prefix="/v1", route_class=GuardedRoute)
    for domain in DOMAINS:
        module = importlib.import_module(f"service.{domain}.endpoints")
        v1.include_router(module.router)
    app.include_router(v1)
    document_problems(app)
    from service.claims.receipts import MAX_RECEIPT_BYTES
    from service.feeds.endpoints import MAX_BODY_BYTES as FEED_BODY_BYTES

    # Receipts: past the 5 MB the route refuses itself, naming the field (`receipt`).
    CLAIM_BODY_BYTES = 2 * MAX_RECEIPT_BYTES

    # Added last = outermost: the access log sees every answer, the size limit every body.
    app.add_middleware(
        BodySizeLimit,
        default_bytes=settings.max_request_body_bytes,
        by_path_prefix={
            "/v1/feeds/": FEED_BODY_BYTES,
            "/v1/claims/": CLAIM_BODY_BYTES,
            "/app/claims": CLAIM_BODY_BYTES,
        },
    )
    app.add_middleware(AccessLog)

    # Web front ends (member app, ...): after the API so their error pages wrap its handlers.
    from service.web import mount_web

    mount_web(app)

    app.include_router(health_router)
    return app
