"""Notifications: what the member was told (unread first in count, newest first), marking
read, the channels and quiet hours they choose, push on this device, and unsubscribe links
from emails (which work without signing in: the signed token is the authority)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Path, Request, Response
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse
from sqlmodel import Session

from service.auth import db_session
from service.notifications import service as notifications
from service.notifications.endpoints import plain_http_push
from service.notifications.schemas import PreferencesIn, PushSubscriptionIn
from service.notifications.unsubscribe import read_unsubscribe_token
from service.problems import Problem
from service.web import csrf
from service.web.app.identity import SignedIn, current_member
from service.web.forms import FormErrors, validate
from service.web.templating import formatter_of, render

router = APIRouter(prefix="/app", include_in_schema=False)
protected = [Depends(csrf.require_csrf)]
SHOWN = 50
Token = Annotated[str, Path(min_length=10, max_length=300)]


def _minutes(text: str) -> int | str | None:
    """ "22:30" -> 1350; "" -> None; anything else is kept for the model to refuse."""
    if not text:
        return None
    hours, _, minutes = text.partition(":")
    if hours.isdigit() and minutes.isdigit():
        return int(hours) * 60 + int(minutes)
    return text


def _clock(minutes: int | None) -> str:
    return "" if minutes is None else f"{minutes // 60:02d}:{minutes % 60:02d}"


def _page(
    request: Request,
    session: Session,
    who: SignedIn,
    *,
    errors: FormErrors | None = None,
    status: int = 200,
) -> Response:
    fmt = formatter_of(request)
    listing = notifications.list_notifications(session, who.member, fmt, limit=SHOWN)
    prefs = notifications.preferences(session, who.member)
    settings = request.app.state.settings
    context = {
        "who": who,
        "items": listing.items,
        "unread": listing.unread_count,
        "prefs": prefs,
        "quiet_start": _clock(prefs.quiet_start_minute),
        "quiet_end": _clock(prefs.quiet_end_minute),
        "vapid_public_key": settings.vapid_public_key,
        "errors": errors or FormErrors(),
    }
    return render(request, "app/notifications.html", context, status=status)


@router.get("/notifications")
def notifications_page(
    request: Request, session: Session = db_session, who: SignedIn = Depends(current_member)
) -> Response:
    return _page(request, session, who)


@router.get("/notifications/badge")
def unread_badge(
    request: Request, session: Session = db_session, who: SignedIn = Depends(current_member)
) -> HTMLResponse:
    """The topbar's unread count (htmx swaps it in)."""
    count = notifications.unread_count(session, who.member_id)
    label = formatter_of(request).gettext("%(n)s unread", n=count)
    html = f'<span class="badge badge--info" aria-label="{label}">{count}</span>' if count else ""
    return HTMLResponse(html)


@router.post("/notifications/read", dependencies=protected)
def mark_read(
    notification_id: Annotated[int | None, Form(ge=1, le=2**63 - 1)] = None,
    session: Session = db_session,
    who: SignedIn = Depends(current_member),
) -> Response:
    ids = [notification_id] if notification_id else []
    notifications.mark_read(session, who.member, ids, datetime.now(UTC))
    return RedirectResponse("/app/notifications", status_code=303)


@router.post("/notifications/preferences", dependencies=protected)
async def save_preferences(
    request: Request, session: Session = db_session, who: SignedIn = Depends(current_member)
) -> Response:
    form = dict(await request.form())
    data: dict[str, object] = {
        "in_app": True,
        "email": form.get("email") == "on",
        "push": form.get("push") == "on",
        "language": notifications.preferences(session, who.member).language,
        "timezone": str(form.get("timezone") or "UTC"),
        "quiet_start_minute": _minutes(str(form.get("quiet_start") or "")),
        "quiet_end_minute": _minutes(str(form.get("quiet_end") or "")),
    }
    body, errors = validate(PreferencesIn, data, formatter_of(request).gettext)
    if errors or body is None:
        return _page(request, session, who, errors=errors, status=errors.status)
    notifications.set_preferences(session, who.member, body, datetime.now(UTC))
    return RedirectResponse("/app/notifications?saved=1#choices", status_code=303)


@router.post("/notifications/push-subscriptions", dependencies=protected)
async def subscribe_push(
    request: Request, session: Session = db_session, who: SignedIn = Depends(current_member)
) -> Response:
    """The browser's PushSubscription (JSON), from app.js after PushManager.subscribe."""
    body, errors = validate(PushSubscriptionIn, await request.json())
    if errors or body is None:
        return JSONResponse(errors.problem_document(), status_code=422)
    try:
        out, created = notifications.add_push_subscription(
            session, who.member, body, datetime.now(UTC), allow_plain_http=plain_http_push(request)
        )
    except Problem as exc:
        return JSONResponse({"detail": exc.detail}, status_code=exc.status)
    return JSONResponse({"id": out.id}, status_code=201 if created else 200)


@router.get("/unsubscribe/{token}")
def unsubscribe_page(request: Request, token: Token) -> Response:
    """The link in every email: asks first (link scanners follow links; they do not POST)."""
    stop = read_unsubscribe_token(request.app.state.settings.web_secret_key, token)
    context = {"who": None, "stop": stop, "token": token, "done": False}
    return render(request, "app/unsubscribe.html", context, status=200 if stop else 404)


@router.post("/unsubscribe/{token}")
def unsubscribe(request: Request, token: Token, session: Session = db_session) -> Response:
    """Turn the channel off; also the one-click POST mail clients send (RFC 8058)."""
    stop = read_unsubscribe_token(request.app.state.settings.web_secret_key, token)
    if stop is None or not notifications.turn_off(session, stop, datetime.now(UTC)):
        context: dict[str, object] = {"who": None, "stop": None, "token": token, "done": False}
        return render(request, "app/unsubscribe.html", context, status=404)
    context = {"who": None, "stop": stop, "token": token, "done": True}
    return render(request, "app/unsubscribe.html", context)
