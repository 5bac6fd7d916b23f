"""A member's notifications (the in-app list), what the member chose, and push browsers.

Reached as the member (its token) or its publisher; another member's id is a 404.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Literal

from fastapi import Depends, Query, Request, Response, status
from sqlmodel import Session

from service.auth import Principal, Role, db_session, require
from service.members.service import member_in_scope
from service.merchants.common import MAX_BIG_ID, MAX_PAGE_SIZE, Id
from service.notifications import service
from service.notifications.schemas import (
    MarkedRead,
    MarkRead,
    NotificationsOut,
    PreferencesIn,
    PreferencesOut,
    PushSubscriptionIn,
    PushSubscriptionOut,
)
from service.openapi_problems import REPEATED_200
from service.routing import make_router

router = make_router(prefix="/members", tags=["notifications"])
member_side = require(Role.MEMBER, Role.PUBLISHER)


def plain_http_push(request: Request) -> bool:
    """A local push service over plain http: development, tests and the demo only."""
    return request.app.state.settings.environment in ("development", "test", "demo")


@router.get(
    "/{member_id}/notifications",
    summary="The member's notifications, newest first, with the unread count",
)
def list_notifications(
    member_id: Id,
    before_id: Annotated[int | None, Query(ge=1, le=MAX_BIG_ID)] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)] = 50,
    language: Annotated[Literal["en", "nb"] | None, Query()] = None,
    session: Session = db_session,
    principal: Principal = Depends(member_side),
) -> NotificationsOut:
    member = member_in_scope(session, principal, member_id)
    assert member.id is not None
    fmt = service.formatter_for(session, member.id, language)
    return service.list_notifications(session, member, fmt, before_id=before_id, limit=limit)


@router.post(
    "/{member_id}/notifications/read",
    summary="Mark notifications read (the ones named, or all); marking again changes nothing",
)
def mark_read(
    member_id: Id,
    body: MarkRead,
    session: Session = db_session,
    principal: Principal = Depends(member_side),
) -> MarkedRead:
    member = member_in_scope(session, principal, member_id)
    return service.mark_read(session, member, body.notification_ids, datetime.now(UTC))


@router.get(
    "/{member_id}/notification-preferences",
    summary="Channels, language, time zone and quiet hours the member chose",
)
def get_preferences(
    member_id: Id,
    session: Session = db_session,
    principal: Principal = Depends(member_side),
) -> PreferencesOut:
    return service.preferences(session, member_in_scope(session, principal, member_id))


@router.put(
    "/{member_id}/notification-preferences",
    summary="Replace the member's notification choices",
)
def put_preferences(
    member_id: Id,
    body: PreferencesIn,
    session: Session = db_session,
    principal: Principal = Depends(member_side),
) -> PreferencesOut:
    member = member_in_scope(session, principal, member_id)
    return service.set_preferences(session, member, body, datetime.now(UTC))


@router.post(
    "/{member_id}/push-subscriptions",
    status_code=status.HTTP_201_CREATED,
    responses=REPEATED_200,
    summary="Keep a browser's Web Push subscription; the same endpoint again is a 200",
)
def add_push_subscription(
    member_id: Id,
    body: PushSubscriptionIn,
    request: Request,
    response: Response,
    session: Session = db_session,
    principal: Principal = Depends(member_side),
) -> PushSubscriptionOut:
    member = member_in_scope(session, principal, member_id)
    out, created = service.add_push_subscription(
        session, member, body, datetime.now(UTC), allow_plain_http=plain_http_push(request)
    )
    if not created:
        response.status_code = status.HTTP_200_OK
    return out


@router.delete(
    "/{member_id}/push-subscriptions",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Forget every browser of the member (push off everywhere)",
)
def remove_push_subscriptions(
    member_id: Id,
    session: Session = db_session,
    principal: Principal = Depends(member_side),
) -> Response:
    service.remove_push_subscriptions(session, member_in_scope(session, principal, member_id))
    return Response(status_code=status.HTTP_204_NO_CONTENT)
