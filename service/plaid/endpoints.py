"""Plaid: Link for members, the webhook Plaid calls, and merchant review of unknown names."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from typing import Any

from fastapi import Depends, Request, Response, status
from plaid.api.plaid_api import PlaidApi
from sqlmodel import Session
from starlette.concurrency import run_in_threadpool

from service.auth import Principal, Role, db_session, require
from service.feeds.service import pipeline_for
from service.members.service import member_in_scope
from service.merchants.common import Id, Page, PageParams, page_of, page_params
from service.openapi_problems import REPEATED_200
from service.plaid import review
from service.plaid import service as plaid_service
from service.plaid.client import plaid_client
from service.plaid.schemas import (
    LinkedItemOut,
    LinkTokenCreate,
    LinkTokenOut,
    PlaidItemOut,
    PublicTokenExchange,
)
from service.plaid.sync import act_on_webhook
from service.plaid.webhook import HEADER, KeyCache, WebhookRefused, verify
from service.routing import make_router

router = make_router(tags=["plaid"])
member_side = require(Role.MEMBER, Role.PUBLISHER)


def client_of(request: Request) -> PlaidApi:
    state = request.app.state
    if getattr(state, "plaid_client", None) is None:
        state.plaid_client = plaid_client(state.settings)
    return state.plaid_client


def keys_of(request: Request) -> KeyCache:
    state = request.app.state
    if getattr(state, "plaid_keys", None) is None:
        state.plaid_keys = KeyCache(
            client_of(request), fetches_per_minute=state.settings.plaid_key_fetches_per_minute
        )
    return state.plaid_keys


@router.post(
    "/members/{member_id}/plaid/link-token",
    summary="A Plaid Link token for the member's browser (item_id: update mode, to re-link)",
)
def create_link_token(
    member_id: Id,
    request: Request,
    body: LinkTokenCreate | None = None,
    session: Session = db_session,
    principal: Principal = Depends(member_side),
) -> LinkTokenOut:
    member = member_in_scope(session, principal, member_id)
    return plaid_service.create_link_token(
        session,
        client_of(request),
        request.app.state.settings,
        member,
        item_id=body.item_id if body else None,
    )


@router.post(
    "/members/{member_id}/plaid/exchange",
    status_code=status.HTTP_201_CREATED,
    responses=REPEATED_200,
    summary="Exchange Link's public token: the Item is stored and its card accounts become cards",
)
def exchange_public_token(
    member_id: Id,
    body: PublicTokenExchange,
    request: Request,
    response: Response,
    session: Session = db_session,
    principal: Principal = Depends(member_side),
) -> LinkedItemOut:
    member = member_in_scope(session, principal, member_id)
    linked, created = plaid_service.exchange_public_token(
        session,
        client_of(request),
        request.app.state.settings,
        member,
        body.public_token,
        now=datetime.now(UTC),
    )
    if not created:
        response.status_code = status.HTTP_200_OK
    return linked


@router.get(
    "/members/{member_id}/plaid/items",
    summary="The member's Plaid Items and their status (relink_required: link again)",
)
def list_items(
    member_id: Id,
    page: PageParams = Depends(page_params),
    session: Session = db_session,
    principal: Principal = Depends(member_side),
) -> Page[PlaidItemOut]:
    member = member_in_scope(session, principal, member_id)
    rows = plaid_service.list_items(session, member, after_id=page.after_id, limit=page.limit + 1)
    return page_of(rows, page.limit, plaid_service.item_out)


@router.post(
    "/webhooks/plaid",
    summary="Plaid webhooks, verified from the Plaid-Verification ES256 JWT",
)
async def plaid_webhook(request: Request) -> dict[str, Any]:
    raw = await request.body()
    # Verifying may fetch a key from Plaid and acting may sync: off the event loop.
    return await run_in_threadpool(_handle_webhook, request, raw)


def _handle_webhook(request: Request, raw: bytes) -> dict[str, Any]:
    settings = request.app.state.settings
    address = request.client.host if request.client else ""
    with request.app.state.auth_limiter.counting_failures(address=address):
        verify(
            request.headers.get(HEADER),
            raw,
            keys_of(request),
            now_unix=int(time.time()),
            max_age_seconds=settings.plaid_webhook_max_age_seconds,
        )
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise WebhookRefused("body is not JSON", field="body", reason="invalid_json") from None
    if not isinstance(body, dict):
        raise WebhookRefused("body is not a webhook", field="body", reason="not_a_webhook")
    return act_on_webhook(
        request.app.state.engine,
        client_of(request),
        body,
        datetime.now(UTC),
        settings=settings,
        pipeline=pipeline_for(request.app),
    )


router.include_router(review.router)
