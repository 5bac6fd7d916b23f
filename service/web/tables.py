"""Tables of the web front ends: cookie sessions, one-shot form tokens, member sign-in.

Session tokens are stored as SHA-256 hashes (the cookie holds the only copy); passwords as
argon2 hashes. A web account is a way into an existing `member` row, never a second identity:
API member tokens and web sessions reach the same member.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, Index, Text
from sqlmodel import Field, SQLModel


class WebSession(SQLModel, table=True):
    """A signed-in browser: `audience` names the front end (app, merchant, finance) and
    `subject_id` the member or staff user it belongs to."""

    __tablename__ = "web_session"
    __table_args__ = (Index("ix_web_session_subject", "audience", "subject_id"),)
    id: int | None = Field(default=None, primary_key=True)
    token_sha256: str = Field(max_length=64, unique=True)
    audience: str = Field(max_length=16)
    subject_id: int
    created_at: datetime
    last_seen_at: datetime
    expires_at: datetime
    revoked_at: datetime | None = None


class WebFormSubmission(SQLModel, table=True):
    """A form's one-shot token, kept once its submission succeeded: a double submit finds
    it and is sent to the first result instead of creating a second object."""

    __tablename__ = "web_form_submission"
    token: str = Field(max_length=64, primary_key=True)
    audience: str = Field(max_length=16)
    subject_id: int | None = None
    result_path: str = Field(max_length=500)
    created_at: datetime


class MemberLogin(SQLModel, table=True):
    """Email and password sign-in for a member (the email is stored lower-cased)."""

    __tablename__ = "member_login"
    member_id: int = Field(foreign_key="member.id", primary_key=True)
    email: str = Field(max_length=254, unique=True)
    password_hash: str = Field(max_length=255)
    locale: str = Field(default="en", max_length=16)
    created_at: datetime
    password_changed_at: datetime


class MemberPasskey(SQLModel, table=True):
    """A WebAuthn credential registered by a member (a second way in)."""

    __tablename__ = "member_passkey"
    id: int | None = Field(default=None, primary_key=True)
    member_id: int = Field(foreign_key="member.id", index=True)
    credential_id: str = Field(max_length=1024, unique=True)  # base64url
    public_key: str = Field(sa_column=Column(Text, nullable=False))  # base64url COSE key
    sign_count: int = 0
    transports: str = Field(default="", max_length=200)
    created_at: datetime
    last_used_at: datetime | None = None
