"""API keys and member tokens: issued once, stored as SHA-256 hashes, resolved per request."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from fastapi import Depends, Request
from sqlmodel import Session, select

from service.problems import Forbidden, Unauthorized
from service.tables import ApiCredential


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
) -> str:
    """Create a credential and return its token; the token is shown once and never stored."""
    if role is Role.MERCHANT and merchant_id is None:
        raise ValueError("a merchant key is scoped to one merchant")
    if role is Role.MEMBER and member_id is None:
        raise ValueError("a member token is scoped to one member")
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
            name=name,
            created_at=now,
        )
    )
    session.flush()
    return f"{key_id}.{secret}"


def authenticate(session: Session, token: str) -> Principal:
    key_id, _, secret = token.partition(".")
    if not key_id or not secret or len(token) > 200:
        raise Unauthorized("malformed credential", field="Authorization", reason="malformed")
    row = session.exec(select(ApiCredential).where(ApiCredential.key_id == key_id)).first()
    if row is None or row.revoked_at is not None:
        # Compare anyway so unknown and wrong keys take the same time.
        hmac.compare_digest(_hash_secret(secret), "0" * 64)
        raise Unauthorized(
            "unknown or revoked credential", field="Authorization", reason="invalid_credential"
        )
    if not hmac.compare_digest(_hash_secret(secret), row.secret_sha256):
        raise Unauthorized(
            "unknown or revoked credential", field="Authorization", reason="invalid_credential"
        )
    assert row.id is not None
    return Principal(row.id, Role(row.role), row.merchant_id, row.member_id)


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


def current_principal(request: Request, session: Session = db_session) -> Principal:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise Unauthorized(
            "an Authorization: Bearer credential is required",
            field="Authorization",
            reason="missing_credential",
        )
    return authenticate(session, token.strip())


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

    return _check
