"""Staff sign-in, invitations and the roles each side knows.

Passwords are argon2 hashes (the shared `passwords` module); an invitation is a one-time
link whose token is stored hashed and expires; a disabled user cannot sign in.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import UTC, datetime, timedelta
from typing import Annotated, Literal

from pydantic import ConfigDict, StringConstraints, field_validator
from sqlmodel import Session, col, select

from service.members.schemas import EMAIL_PATTERN
from service.merchants.common import RequestModel, add_unique
from service.problems import Conflict, InvalidInput, NotFound, Unauthorized
from service.web.i18n import N_
from service.web.passwords import (
    MAX_PASSWORD_CHARS,
    MIN_PASSWORD_CHARS,
    hash_password,
    verify_password,
)
from service.web.staff.tables import StaffUser

MERCHANT_ROLES = ("owner", "analyst")
FINANCE_ROLES = ("reviewer", "approver")
INVITE_DAYS = 7

Email = Annotated[
    str, StringConstraints(strip_whitespace=True, max_length=254, pattern=EMAIL_PATTERN)
]
Password = Annotated[
    str, StringConstraints(min_length=MIN_PASSWORD_CHARS, max_length=MAX_PASSWORD_CHARS)
]


class StaffSignIn(RequestModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=False)

    email: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=254)]
    password: Annotated[str, StringConstraints(min_length=1, max_length=MAX_PASSWORD_CHARS)]


class InviteIn(RequestModel):
    email: Email
    display_name: Annotated[str, StringConstraints(max_length=200)] = ""
    role: Literal["owner", "analyst"]

    @field_validator("email")
    @classmethod
    def lower(cls, value: str) -> str:
        return value.lower()


class AcceptInviteIn(RequestModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=False)

    password: Password


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def user_by_email(session: Session, email: str) -> StaffUser | None:
    return session.exec(select(StaffUser).where(StaffUser.email == email.strip().lower())).first()


def sign_in(session: Session, data: StaffSignIn, *, side: str) -> StaffUser:
    """The user whose password matches on this side; anything else is the same 401."""
    user = user_by_email(session, data.email)
    usable = user is not None and user.side == side and user.disabled_at is None
    ok, new_hash = verify_password(data.password, user.password_hash if usable and user else None)
    if not usable or not ok or user is None:
        raise Unauthorized(
            N_("The email or the password is not right."), field="password", reason="invalid_login"
        )
    if new_hash is not None:
        user.password_hash = new_hash
        session.flush()
    return user


def create_user(
    session: Session,
    *,
    email: str,
    password: str | None,
    side: str,
    role: str,
    now: datetime,
    merchant_id: int | None = None,
    display_name: str = "",
    invited_by_id: int | None = None,
) -> tuple[StaffUser, str | None]:
    """A staff user with a password, or (without one) an invitation: returns the user and
    the invitation token, whose only copy is in the link shown once."""
    assert (side == "merchant") == (merchant_id is not None)
    assert role in (MERCHANT_ROLES if side == "merchant" else FINANCE_ROLES)
    email = email.strip().lower()
    if user_by_email(session, email) is not None:
        raise Conflict(
            N_("Someone with this email already has an account."), field="email", reason="duplicate"
        )
    token = None if password is not None else secrets.token_urlsafe(24)
    user = StaffUser(
        email=email,
        display_name=display_name,
        side=side,
        merchant_id=merchant_id,
        role=role,
        password_hash=hash_password(password) if password is not None else None,
        invite_token_sha256=_digest(token) if token else None,
        invite_expires_at=now + timedelta(days=INVITE_DAYS) if token else None,
        invited_by_id=invited_by_id,
        created_at=now,
    )
    add_unique(
        session, user, field="email", detail="Someone with this email already has an account."
    )
    return user, token


def user_by_invite(session: Session, token: str | None, *, now: datetime) -> StaffUser:
    if not token or len(token) > 64:
        raise NotFound(N_("This invitation link is not valid."), field="token")
    user = session.exec(
        select(StaffUser).where(StaffUser.invite_token_sha256 == _digest(token))
    ).first()
    if (
        user is None
        or user.disabled_at is not None
        or user.invite_expires_at is None
        or _aware(user.invite_expires_at) <= now
    ):
        raise NotFound(N_("This invitation link is not valid or has expired."), field="token")
    return user


def accept_invite(session: Session, user: StaffUser, data: AcceptInviteIn) -> StaffUser:
    user.password_hash = hash_password(data.password)
    user.invite_token_sha256 = None
    user.invite_expires_at = None
    session.flush()
    return user


def team_of(session: Session, merchant_id: int) -> list[StaffUser]:
    return list(
        session.exec(
            select(StaffUser)
            .where(StaffUser.merchant_id == merchant_id)
            .order_by(col(StaffUser.id))
        )
    )


def disable_user(
    session: Session, *, merchant_id: int, user_id: int, by: StaffUser, now: datetime
) -> StaffUser:
    user = session.get(StaffUser, user_id)
    if user is None or user.merchant_id != merchant_id:
        raise NotFound(N_("No such user."), field="user_id")
    if user.id == by.id:
        raise InvalidInput(
            N_("You cannot remove yourself; ask another owner."), field="user_id", reason="self"
        )
    user.disabled_at = now
    user.invite_token_sha256 = None
    session.flush()
    return user
