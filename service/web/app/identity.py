"""Who is signed in to the member app: the member behind the session cookie."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import urlsplit

from fastapi import Request
from sqlmodel import Session

from service.auth import Principal, Role, db_session
from service.tables import Member
from service.web import SignInRequired
from service.web.i18n import LANGUAGE_COOKIE, supported
from service.web.sessions import cookie_name, find_session
from service.web.tables import MemberLogin, WebSession

AUDIENCE = "app"
HOME = "/app"
SIGN_IN = "/app/sign-in"


@dataclass(frozen=True)
class SignedIn:
    member: Member
    login: MemberLogin | None
    web_session: WebSession

    @property
    def member_id(self) -> int:
        assert self.member.id is not None
        return self.member.id

    @property
    def principal(self) -> Principal:
        # A web session acts as the member itself, exactly like the member's API token;
        # credential 0 marks that no API credential is involved.
        return Principal(credential_id=0, role=Role.MEMBER, member_id=self.member.id)


def safe_next(value: str | None) -> str:
    """Only a path inside the app: never another site (no open redirect)."""
    if not value:
        return HOME
    parts = urlsplit(value)
    if parts.scheme or parts.netloc or not value.startswith(HOME) or value.startswith("//"):
        return HOME
    return value[:500]


def optional_member(request: Request, session: Session = db_session) -> SignedIn | None:
    now = datetime.now(UTC)
    row = find_session(
        session, audience=AUDIENCE, token=request.cookies.get(cookie_name(AUDIENCE)), now=now
    )
    if row is None:
        return None
    member = session.get(Member, row.subject_id)
    if member is None:
        return None
    login = session.get(MemberLogin, row.subject_id)
    if login is not None and request.cookies.get(LANGUAGE_COOKIE) is None:
        # A new browser follows the language the member picked, not Accept-Language.
        request.state.language = supported(login.locale) or request.state.language
    return SignedIn(member=member, login=login, web_session=row)


def current_member(request: Request, session: Session = db_session) -> SignedIn:
    """The signed-in member, or back to sign-in (then on to the page that was asked for)."""
    found = optional_member(request, session)
    if found is None:
        next_path = request.url.path
        if request.method == "GET" and request.url.query:
            next_path += "?" + request.url.query
        if request.method != "GET":
            next_path = request.headers.get("HX-Current-URL") or HOME
            next_path = urlsplit(next_path).path or HOME
        raise SignInRequired(SIGN_IN, safe_next(next_path))
    return found
