"""Credentials (admin): list API keys and member tokens, revoke them, issue publisher keys.

Secrets are never shown again after issue: a listing carries key ids, roles, scopes and
dates. Revoking takes effect on the next request; a revoked or expired credential answers
401 exactly like an unknown one.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import Depends, Path, Query, status
from pydantic import BaseModel, Field, StringConstraints
from sqlmodel import Session, col, select

from service.auth import KEY_ID_PATTERN, Principal, Role, db_session, issue_credential, require
from service.auth import revoke_credential as revoke
from service.merchants.common import (
    MAX_ID,
    Page,
    PageParams,
    RequestModel,
    UtcDatetime,
    page_of,
    page_params,
)
from service.problems import InvalidInput, NotFound
from service.routing import make_router
from service.tables import ApiCredential

router = make_router(tags=["credentials"])
admin_only = require(Role.ADMIN)
KeyId = Annotated[str, Path(pattern=KEY_ID_PATTERN, max_length=32)]


class CredentialOut(BaseModel):
    key_id: str
    role: str
    name: str
    merchant_id: int | None
    member_id: int | None
    publisher_id: int | None
    created_at: UtcDatetime
    expires_at: UtcDatetime | None
    revoked_at: UtcDatetime | None


class PublisherKeyCreate(RequestModel):
    name: Annotated[str, StringConstraints(max_length=200)] = ""
    # Omit to start a new publisher; give an existing one's id to add a key (rotation).
    publisher_id: Annotated[int | None, Field(ge=1, le=MAX_ID)] = None
    expires_at: UtcDatetime | None = None


class PublisherKeyOut(BaseModel):
    """The token is shown once; only its hash is stored."""

    key_id: str
    token: str
    publisher_id: int
    expires_at: UtcDatetime | None


def _out(row: ApiCredential) -> CredentialOut:
    return CredentialOut.model_validate(row, from_attributes=True)


@router.get("/credentials", summary="API keys and member tokens, without secrets (admin)")
def list_credentials(
    role: Annotated[Role | None, Query()] = None,
    page: PageParams = Depends(page_params),
    session: Session = db_session,
    _p: Principal = Depends(admin_only),
) -> Page[CredentialOut]:
    query = select(ApiCredential).where(col(ApiCredential.id) > page.after_id)
    if role is not None:
        query = query.where(ApiCredential.role == role.value)
    rows = list(session.exec(query.order_by(col(ApiCredential.id)).limit(page.limit + 1)))
    return page_of(rows, page.limit, _out)


@router.post(
    "/credentials/{key_id}/revoke",
    summary="Revoke an API key or member token (admin); revoking again changes nothing",
)
def revoke_credential(
    key_id: KeyId, session: Session = db_session, _p: Principal = Depends(admin_only)
) -> CredentialOut:
    row = revoke(session, key_id, now=datetime.now(UTC))
    if row is None:
        raise NotFound(f"credential {key_id} not found", field="key_id")
    return _out(row)


@router.post(
    "/publishers/api-keys",
    status_code=status.HTTP_201_CREATED,
    summary="Issue a publisher key (admin): a new publisher, or another key of one",
)
def issue_publisher_key(
    body: PublisherKeyCreate,
    session: Session = db_session,
    _p: Principal = Depends(admin_only),
) -> PublisherKeyOut:
    now = datetime.now(UTC)
    if body.expires_at is not None and body.expires_at <= now:
        raise InvalidInput("expires_at is in the past", field="expires_at", reason="in_the_past")
    try:
        token = issue_credential(
            session,
            role=Role.PUBLISHER,
            now=now,
            name=body.name,
            publisher_id=body.publisher_id,
            expires_at=body.expires_at,
        )
    except ValueError:
        raise NotFound(f"publisher {body.publisher_id} not found", field="publisher_id") from None
    key_id = token.partition(".")[0]
    row = session.exec(select(ApiCredential).where(ApiCredential.key_id == key_id)).one()
    assert row.publisher_id is not None
    return PublisherKeyOut(
        key_id=key_id, token=token, publisher_id=row.publisher_id, expires_at=row.expires_at
    )
