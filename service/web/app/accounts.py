"""Member web accounts: email and password sign-up and sign-in for a member.

Sign-up creates the member through the members service (the same call the API's publisher
sign-up makes), so a web account and an API member token reach one member.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import ConfigDict, StringConstraints, field_validator
from sqlmodel import Session, select

from service.members import service as members
from service.members.schemas import EMAIL_PATTERN, MemberCreate
from service.merchants.common import RequestModel, add_unique
from service.problems import Conflict, Unauthorized
from service.tables import Member
from service.web.i18n import N_
from service.web.passwords import (
    MAX_PASSWORD_CHARS,
    MIN_PASSWORD_CHARS,
    hash_password,
    verify_password,
)
from service.web.tables import MemberLogin

Email = Annotated[
    str, StringConstraints(strip_whitespace=True, max_length=254, pattern=EMAIL_PATTERN)
]


class SignUp(RequestModel):
    # Passwords are kept exactly as typed (RequestModel trims other strings).
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=False)

    email: Email
    password: Annotated[
        str, StringConstraints(min_length=MIN_PASSWORD_CHARS, max_length=MAX_PASSWORD_CHARS)
    ]
    display_name: Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)] = ""

    @field_validator("email")
    @classmethod
    def lower(cls, value: str) -> str:
        return value.lower()


class SignIn(RequestModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=False)

    email: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=254)]
    password: Annotated[str, StringConstraints(min_length=1, max_length=MAX_PASSWORD_CHARS)]


def login_by_email(session: Session, email: str) -> MemberLogin | None:
    return session.exec(select(MemberLogin).where(MemberLogin.email == email.lower())).first()


def sign_up(session: Session, data: SignUp, *, language: str, now: datetime) -> Member:
    if login_by_email(session, data.email) is not None:
        raise Conflict(
            N_("An account with this email already exists. Sign in instead."),
            field="email",
            reason="duplicate",
        )
    # A member who signs up in the app belongs to no publisher: no publisher key reaches it.
    created = members.create_member(
        session,
        MemberCreate(email=data.email, display_name=data.display_name),
        publisher_id=None,
        now=now,
    )
    login = MemberLogin(
        member_id=created.member.id,
        email=data.email,
        password_hash=hash_password(data.password),
        locale=language,
        created_at=now,
        password_changed_at=now,
    )
    add_unique(session, login, field="email", detail="an account with this email already exists")
    member = session.get(Member, created.member.id)
    assert member is not None
    return member


def sign_in(session: Session, data: SignIn, *, now: datetime) -> MemberLogin:
    """The login whose password matches; a wrong email or password is the same 401."""
    login = login_by_email(session, data.email)
    ok, new_hash = verify_password(data.password, login.password_hash if login else None)
    if login is None or not ok:
        raise Unauthorized(
            N_("The email or the password is not right."), field="password", reason="invalid_login"
        )
    if new_hash is not None:
        login.password_hash = new_hash
        session.flush()
    return login
