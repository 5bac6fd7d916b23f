"""API keys and member tokens: issued once, stored as SHA-256 hashes, resolved per request."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum

from fastapi import Depends, Request
from sqlmodel import Session, select

from service.problems import Forbidden, Unauthorized
from service.tables import ApiCredential, Publisher


class Role(StrEnum):
    ADMIN = "admin"
    MERCHANT = "merchant"
    PUBLISHER = "publisher"
    FINANCE = "finance"
    MEMBER = "member"


@dataclass(frozen=True, slots=True)
class Principal:
    credential_id: int
    role: Role
    merchant_id: int | None = None
    member_id: int | None = None
    publisher_id: int | None = None


def _hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def issue_credential(
    session: Session,
    *,
    role: Role,
    now: datetime,
    name: str = "",
    merchant_id: int | None = None,
    member_id: int | None = None,
    publisher_id: int | None = None,
    expires_at: datetime | None = None,
) -> str:
    """Create a credential and return its token; the token is shown once and never stored.

    A publisher key without `publisher_id` is a new publisher: it reaches only the members it
    signs up. Give the id of an existing publisher to rotate that publisher's keys.
    """
    if role is Role.MERCHANT and merchant_id is None:
        raise ValueError("a merchant key is scoped to one merchant")
    if role is Role.MEMBER and member_id is None:
        raise ValueError("a member token is scoped to one member")
    if role is Role.PUBLISHER and publisher_id is None:
        publisher = Publisher(name=name, created_at=now)
        session.add(publisher)
        session.flush()
        publisher_id = publisher.id
    elif role is Role.PUBLISHER and session.get(Publisher, publisher_id) is None:
        raise ValueError(f"publisher {publisher_id} does not exist")
    if role is not Role.PUBLISHER:
        publisher_id = None
    if expires_at is not None and expires_at.tzinfo is None:
        raise ValueError("expires_at needs a time zone")
    prefix = "mt" if role is Role.MEMBER else "ck"
    key_id = f"{prefix}_{secrets.token_hex(8)}"
    secret = secrets.token_urlsafe(32)
    session.add(
        ApiCredential(
            key_id=key_id,
            secret_sha256=_hash_secret(secret),
            role=role.value,
            merchant_id=merchant_id,
            member_id=member_id,
            publisher_id=publisher_id,
            name=name,
            created_at=now,
            expires_at=expires_at,
        )
    )
    session.flush()
    return f"{key_id}.{secret}"


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


MAX_TOKEN_CHARS = 200
KEY_ID_PATTERN = r"^(ck|mt)_[0-9a-f]{16}$"  # what issue_credential makes: no other shape exists


def claimed_key_id(token: str) -> str:
    """The key id a token names (before the dot), for rate limiting; bounded in length."""
    return token.partition(".")[0][:32]


def authenticate(session: Session, token: str, *, now: datetime) -> Principal:
    key_id, _, secret = token.partition(".")
    if not key_id or not secret or len(token) > MAX_TOKEN_CHARS:
        raise Unauthorized("malformed credential", field="Authorization", reason="malformed")
    row = session.exec(select(ApiCredential).where(ApiCredential.key_id == key_id)).first()
    expired = row is not None and row.expires_at is not None and _aware(row.expires_at) <= now
    if row is None or row.revoked_at is not None or expired:
        # Compare anyway so unknown and wrong keys take the same time.
        hmac.compare_digest(_hash_secret(secret), "0" * 64)
        raise Unauthorized(
            "unknown, expired or revoked credential",
            field="Authorization",
            reason="invalid_credential",
        )
    if not hmac.compare_digest(_hash_secret(secret), row.secret_sha256):
        raise Unauthorized(
            "unknown, expired or revoked credential",
            field="Authorization",
            reason="invalid_credential",
        )
    assert row.id is not None
    return Principal(row.id, Role(row.role), row.merchant_id, row.member_id, row.publisher_id)


def revoke_credential(session: Session, key_id: str, *, now: datetime) -> ApiCredential | None:
    """Revoke a key or member token by its key id; revoking twice keeps the first time."""
    row = session.exec(select(ApiCredential).where(ApiCredential.key_id == key_id)).first()
    if row is not None and row.revoked_at is None:
        row.revoked_at = now
        session.add(row)
        session.flush()
    return row


def _bearer_token(request: Request) -> str:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized(
            "an Authorization: Bearer credential is required",
            field="Authorization",
            reason="missing_credential",
        )
    return token.strip()


def authenticate_request(request: Request) -> Principal:
    """The caller of `request`, in a short session of its own; failures are rate-limited.

    Run by the route guard before any body is read, so an unauthenticated body is never
    parsed or scanned. Blocking (a database read): call it off the event loop.
    """
    token = _bearer_token(request)
    state = request.app.state
    key_id = claimed_key_id(token)
    address = request.client.host if request.client else ""
    limiter = state.auth_limiter
    limiter.check(key_id=key_id, address=address)
    try:
        with Session(state.engine) as session:
            return authenticate(session, token, now=datetime.now(UTC))
    except Unauthorized:
        limiter.failed(key_id=key_id, address=address)
        raise


def get_session(request: Request):
    """One unit of work per request: commit on success, roll back on error."""
    with Session(request.app.state.engine) as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise


# The unit of work ends before the response is sent ("function" scope; FastAPI's default for
# a dependency with yield is after): a client that got a 201 can use what it created at once,
# from any worker, and a commit that fails is the response instead of a write lost after a 201.
db_session = Depends(get_session, scope="function")


def current_principal(request: Request) -> Principal:
    """The authenticated caller: the guard's result, or authenticated here for other routes."""
    found = getattr(request.state, "principal", None)
    if found is not None:
        return found
    principal = authenticate_request(request)
    request.state.principal = principal
    return principal


def require(*roles: Role):
    """Dependency: the caller must hold one of `roles` (admin always may)."""
    allowed = frozenset(roles) | {Role.ADMIN}

    def _check(principal: Principal = Depends(current_principal)) -> Principal:
        if principal.role not in allowed:
            raise Forbidden(
                f"role {principal.role.value} may not do this",
                field="Authorization",
                reason="role_not_allowed",
            )
        return principal

    _check.allowed_roles = allowed  # type: ignore[attr-defined]  # mypy has no function attributes; the attack suite reads it
    return _check
