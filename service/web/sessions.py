"""Cookie sessions for every front end: an opaque random token in an HttpOnly, SameSite=Lax
cookie (Secure outside local development), stored server-side as a SHA-256 hash so a
session can be revoked, rotated at sign-in and signed out everywhere.

Each front end (`audience`: app, merchant, finance) has its own cookie scoped to its path,
so a member session never reaches the merchant portal and the other way round.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import UTC, datetime, timedelta

from fastapi import Request, Response
from sqlmodel import Session, col, select, update

from service.web.tables import WebSession

# Touch last_seen_at at most this often: a page view should not always write.
_TOUCH_EVERY = timedelta(minutes=5)


def cookie_name(audience: str) -> str:
    return f"clo_{audience}_session"


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _aware(value: datetime) -> datetime:
    """SQLite gives stored times back without their offset; they are UTC."""
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def start_session(
    session: Session, *, audience: str, subject_id: int, now: datetime, days: int
) -> str:
    """A new session for the subject; returns the cookie token (its only copy)."""
    token = secrets.token_urlsafe(32)
    session.add(
        WebSession(
            token_sha256=_digest(token),
            audience=audience,
            subject_id=subject_id,
            created_at=now,
            last_seen_at=now,
            expires_at=now + timedelta(days=days),
        )
    )
    session.flush()
    return token


def find_session(
    session: Session, *, audience: str, token: str | None, now: datetime
) -> WebSession | None:
    """The live session a cookie names, or None (unknown, expired, revoked, other front end)."""
    if not token or len(token) > 100:
        return None
    row = session.exec(select(WebSession).where(WebSession.token_sha256 == _digest(token))).first()
    if (
        row is None
        or row.audience != audience
        or row.revoked_at is not None
        or _aware(row.expires_at) <= now
    ):
        return None
    if now - _aware(row.last_seen_at) > _TOUCH_EVERY:
        row.last_seen_at = now
        session.flush()
    return row


def end_session(session: Session, row: WebSession, *, now: datetime) -> None:
    row.revoked_at = now
    session.flush()


def end_every_session(session: Session, *, audience: str, subject_id: int, now: datetime) -> int:
    """Sign out everywhere: revoke every live session of the subject on this front end."""
    result = session.exec(
        update(WebSession)
        .where(
            col(WebSession.audience) == audience,
            col(WebSession.subject_id) == subject_id,
            col(WebSession.revoked_at).is_(None),
        )
        .values(revoked_at=now)
    )
    return result.rowcount or 0


def rotate_session(
    session: Session,
    request: Request,
    *,
    audience: str,
    subject_id: int,
    now: datetime,
    days: int,
) -> str:
    """At sign-in: end whatever session the browser held and start a fresh one, so a
    session id planted before sign-in is worthless after it."""
    old = find_session(
        session, audience=audience, token=request.cookies.get(cookie_name(audience)), now=now
    )
    if old is not None:
        end_session(session, old, now=now)
    return start_session(session, audience=audience, subject_id=subject_id, now=now, days=days)


def set_session_cookie(
    response: Response, *, audience: str, token: str, secure: bool, days: int
) -> None:
    response.set_cookie(
        cookie_name(audience),
        token,
        max_age=days * 86400,
        path=f"/{audience}",
        httponly=True,
        samesite="lax",
        secure=secure,
    )


def clear_session_cookie(response: Response, *, audience: str, secure: bool) -> None:
    response.delete_cookie(
        cookie_name(audience), path=f"/{audience}", httponly=True, samesite="lax", secure=secure
    )
