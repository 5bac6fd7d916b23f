"""Webhook endpoints: publishers and admins register where they receive events."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import Depends, Request, Response, status
from sqlmodel import Session

from service.auth import Principal, Role, db_session, require
from service.merchants.common import Id, Page, PageParams, page_of, page_params
from service.routing import make_router
from service.webhooks import service
from service.webhooks.payloads import events_json_schema
from service.webhooks.schemas import (
    ReplayOut,
    ReplayRequest,
    SecretRotated,
    WebhookEndpointCreate,
    WebhookEndpointCreated,
    WebhookEndpointOut,
    WebhookEndpointUpdate,
)

router = make_router(tags=["webhooks"])
owners = require(Role.PUBLISHER)
ENDPOINTS = "/webhook-endpoints"


@router.get(
    "/webhook-events/schema",
    include_in_schema=False,  # a document of its own, published beside the OpenAPI
    summary="JSON Schema of every webhook event envelope",
)
def webhook_events_schema() -> dict[str, Any]:
    return events_json_schema()


@router.post(
    ENDPOINTS,
    status_code=status.HTTP_201_CREATED,
    summary="Register a webhook endpoint; returns its signing secret, shown once",
)
def create_endpoint(
    body: WebhookEndpointCreate,
    request: Request,
    session: Session = db_session,
    principal: Principal = Depends(owners),
) -> WebhookEndpointCreated:
    return service.create_endpoint(
        session, principal, body, settings=request.app.state.settings, now=datetime.now(UTC)
    )


@router.get(ENDPOINTS, summary="The caller's webhook endpoints")
def list_endpoints(
    page: Annotated[PageParams, Depends(page_params)],
    session: Session = db_session,
    principal: Principal = Depends(owners),
) -> Page[WebhookEndpointOut]:
    rows = service.endpoints_in_scope(
        session, principal, after_id=page.after_id, limit=page.limit + 1
    )
    return page_of(rows, page.limit, lambda e: service.endpoint_out(session, e))


@router.get(ENDPOINTS + "/{endpoint_id}", summary="Read a webhook endpoint")
def get_endpoint(
    endpoint_id: Id, session: Session = db_session, principal: Principal = Depends(owners)
) -> WebhookEndpointOut:
    return service.endpoint_out(session, service.endpoint_in_scope(session, principal, endpoint_id))


@router.patch(
    ENDPOINTS + "/{endpoint_id}",
    summary="Change a webhook endpoint; enabled=true resumes a disabled one where it stopped",
)
def update_endpoint(
    endpoint_id: Id,
    body: WebhookEndpointUpdate,
    request: Request,
    session: Session = db_session,
    principal: Principal = Depends(owners),
) -> WebhookEndpointOut:
    endpoint = service.endpoint_in_scope(session, principal, endpoint_id)
    service.update_endpoint(
        session, endpoint, body, settings=request.app.state.settings, now=datetime.now(UTC)
    )
    return service.endpoint_out(session, endpoint)


@router.delete(
    ENDPOINTS + "/{endpoint_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Remove a webhook endpoint and its queue",
)
def delete_endpoint(
    endpoint_id: Id, session: Session = db_session, principal: Principal = Depends(owners)
) -> Response:
    service.delete_endpoint(session, service.endpoint_in_scope(session, principal, endpoint_id))
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    ENDPOINTS + "/{endpoint_id}/rotate-secret",
    summary="A new signing secret, shown once; the old one signs alongside for 24 hours",
)
def rotate_secret(
    endpoint_id: Id,
    request: Request,
    session: Session = db_session,
    principal: Principal = Depends(owners),
) -> SecretRotated:
    endpoint = service.endpoint_in_scope(session, principal, endpoint_id)
    return service.rotate_secret(
        session, endpoint, settings=request.app.state.settings, now=datetime.now(UTC)
    )


@router.post(
    ENDPOINTS + "/{endpoint_id}/replay",
    status_code=status.HTTP_202_ACCEPTED,
    summary="Send one event, or every event since one, again (queued in order)",
)
def replay(
    endpoint_id: Id,
    body: ReplayRequest,
    session: Session = db_session,
    principal: Principal = Depends(owners),
) -> ReplayOut:
    endpoint = service.endpoint_in_scope(session, principal, endpoint_id)
    return service.replay(session, endpoint, body, now=datetime.now(UTC))
