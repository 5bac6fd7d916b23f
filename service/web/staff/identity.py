"""Who is signed in to a staff front end, and what their role lets them do.

Every staff page depends on `signed_in(side)` or `with_role(side, *roles)`: the session is
looked up on the server for each request, the user must still be active and belong to
that side, and a merchant user always acts as its own merchant (tenant), never another.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import urlsplit

from fastapi import Depends, Request
from sqlmodel import Session

from service.auth import Principal, Role, db_session
from service.problems import Forbidden
from service.web import SignInRequired
from service.web.i18n import N_
from service.web.sessions import cookie_name, find_session
from service.web.staff.tables import StaffUser
from service.web.tables import WebSession

NOT_YOUR_ROLE = N_("Your role does not allow this. Ask an owner or an approver.")


@dataclass(frozen=True)
class Staff:
    user: StaffUser
    web_session: WebSession

    @property
    def id(self) -> int:
        assert self.user.id is not None
        return self.user.id

    @property
    def role(self) -> str:
        return self.user.role

    @property
    def merchant_id(self) -> int:
        """The tenant of a merchant user (finance users have none)."""
        assert self.user.merchant_id is not None
        return self.user.merchant_id

    @property
    def principal(self) -> Principal:
        """The same principal an API key of this party carries, for the domain services;
        credential 0 marks a web session rather than an API key."""
        if self.user.side == "merchant":
            return Principal(credential_id=0, role=Role.MERCHANT, merchant_id=self.merchant_id)
        return Principal(credential_id=0, role=Role.FINANCE)

    @property
    def actor(self) -> str:
        """How the audit trail names this user."""
        return f"{self.user.side}:staff:{self.id}"

    def may(self, *roles: str) -> bool:
        return self.role in roles


def home_of(side: str) -> str:
    return f"/{side}"


def safe_next(side: str, value: str | None) -> str:
    """Only a path inside this front end: never another site (no open redirect)."""
    home = home_of(side)
    if not value:
        return home
    parts = urlsplit(value)
    if parts.scheme or parts.netloc or not value.startswith(home) or value.startswith("//"):
        return home
    return value[:500]


def optional_staff(side: str) -> Callable[..., Staff | None]:
    def dependency(request: Request, session: Session = db_session) -> Staff | None:
        row = find_session(
            session,
            audience=side,
            token=request.cookies.get(cookie_name(side)),
            now=datetime.now(UTC),
        )
        if row is None:
            return None
        user = session.get(StaffUser, row.subject_id)
        if user is None or user.side != side or user.disabled_at is not None:
            return None
        return Staff(user=user, web_session=row)

    return dependency


def signed_in(side: str) -> Callable[..., Staff]:
    """The signed-in user of this side, or back to sign-in (then on to the page asked for)."""
    optional = optional_staff(side)

    def dependency(request: Request, found: Staff | None = Depends(optional)) -> Staff:
        if found is None:
            next_path = request.url.path
            if request.method == "GET" and request.url.query:
                next_path += "?" + request.url.query
            if request.method != "GET":
                current = request.headers.get("HX-Current-URL") or home_of(side)
                next_path = urlsplit(current).path or home_of(side)
            raise SignInRequired(f"/{side}/sign-in", safe_next(side, next_path))
        return found

    return dependency


def with_role(side: str, *roles: str) -> Callable[..., Staff]:
    """A signed-in user holding one of `roles`; anyone else gets a 403 page."""
    base = signed_in(side)

    def dependency(who: Staff = Depends(base)) -> Staff:
        if who.role not in roles:
            raise Forbidden(NOT_YOUR_ROLE, field="role", reason="role_not_allowed")
        return who

    return dependency
