"""Tables of staff accounts: who may sign in to /merchant and /finance, and which finance
user started or edited a settlement run (maker-checker: they may not approve it)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index
from sqlmodel import Field, SQLModel


class StaffUser(SQLModel, table=True):
    """A merchant user (`side` merchant, scoped to `merchant_id`, role owner | analyst) or
    a finance user (`side` finance, role reviewer | approver). The email is lower-cased.

    An invited user has no password until they open their one-time invitation link; the
    link's token is stored as a SHA-256 hash, like session tokens."""

    __tablename__ = "staff_user"
    id: int | None = Field(default=None, primary_key=True)
    email: str = Field(max_length=254, unique=True)
    display_name: str = Field(default="", max_length=200)
    side: str = Field(max_length=16)  # merchant | finance
    merchant_id: int | None = Field(default=None, foreign_key="merchant.id", index=True)
    role: str = Field(max_length=16)  # owner | analyst | reviewer | approver
    password_hash: str | None = Field(default=None, max_length=255)
    invite_token_sha256: str | None = Field(default=None, max_length=64, unique=True)
    invite_expires_at: datetime | None = None
    invited_by_id: int | None = None
    created_at: datetime
    disabled_at: datetime | None = None


class FinanceRunAction(SQLModel, table=True):
    """A finance user started or edited a settlement run: the checker must be someone else."""

    __tablename__ = "finance_run_action"
    __table_args__ = (Index("ix_finance_run_action_run", "run_id", "staff_user_id"),)
    id: int | None = Field(default=None, primary_key=True)
    run_id: int = Field(foreign_key="settlement_run.id")
    staff_user_id: int = Field(foreign_key="staff_user.id")
    action: str = Field(max_length=16)  # started | edited
    at: datetime
