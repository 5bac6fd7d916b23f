"""Merchants, locations (MIDs), brand aliases and merchant API keys."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session

from matching.index import normalize_name
from service.auth import Principal, Role, issue_credential
from service.merchants import repository as repo
from service.merchants.common import add_unique
from service.merchants.schemas import (
    AliasCreate,
    ApiKeyOut,
    LocationCreate,
    LocationUpdate,
    MerchantCreate,
    MerchantUpdate,
)
from service.problems import Conflict, Forbidden, InvalidInput, NotFound
from service.tables import BrandAlias, Location, Merchant

# Pricing is the platform's to set: a merchant key may not change what it is charged.
ADMIN_ONLY_MERCHANT_FIELDS = frozenset({"default_commission_bps"})


def merchant_in_scope(session: Session, principal: Principal, merchant_id: int) -> Merchant:
    """The merchant, if the caller may see it; another merchant's is not found, not forbidden."""
    if principal.role is Role.MERCHANT and principal.merchant_id != merchant_id:
        raise NotFound(f"merchant {merchant_id} not found", field="merchant_id")
    merchant = repo.get_merchant(session, merchant_id)
    if merchant is None:
        raise NotFound(f"merchant {merchant_id} not found", field="merchant_id")
    return merchant


def create_merchant(session: Session, data: MerchantCreate, *, now: datetime) -> Merchant:
    merchant = Merchant(**data.model_dump(), created_at=now)
    session.add(merchant)
    session.flush()
    return merchant


def update_merchant(
    session: Session, merchant: Merchant, data: MerchantUpdate, *, principal: Principal
) -> Merchant:
    changes = data.model_dump(exclude_unset=True)
    for name, value in changes.items():
        if value is None:
            raise InvalidInput(f"{name} cannot be null", field=name, reason="null_not_allowed")
        if name in ADMIN_ONLY_MERCHANT_FIELDS and principal.role is not Role.ADMIN:
            raise Forbidden(f"only an admin may change {name}", field=name, reason="admin_only")
        setattr(merchant, name, value)
    session.add(merchant)
    session.flush()
    return merchant


def issue_merchant_key(
    session: Session,
    merchant: Merchant,
    *,
    name: str,
    now: datetime,
    expires_at: datetime | None = None,
) -> ApiKeyOut:
    assert merchant.id is not None
    token = issue_credential(
        session,
        role=Role.MERCHANT,
        now=now,
        name=name or f"merchant {merchant.id}",
        merchant_id=merchant.id,
        expires_at=expires_at,
    )
    return ApiKeyOut(
        key_id=token.partition(".")[0],
        token=token,
        role=Role.MERCHANT.value,
        merchant_id=merchant.id,
    )


def create_location(
    session: Session, merchant: Merchant, data: LocationCreate, *, now: datetime
) -> Location:
    detail = f"MID {data.mid} is already registered"
    if repo.location_by_mid(session, data.mid) is not None:
        raise Conflict(detail, field="mid", reason="duplicate")
    assert merchant.id is not None
    location = Location(merchant_id=merchant.id, **data.model_dump(), created_at=now)
    add_unique(session, location, field="mid", detail=detail)
    return location


def location_in_scope(session: Session, merchant: Merchant, location_id: int) -> Location:
    assert merchant.id is not None
    location = repo.get_location(session, merchant.id, location_id)
    if location is None:
        raise NotFound(f"location {location_id} not found", field="location_id")
    return location


def update_location(session: Session, location: Location, data: LocationUpdate) -> Location:
    location.name = data.name
    session.add(location)
    session.flush()
    return location


def add_alias(session: Session, merchant: Merchant, data: AliasCreate) -> tuple[BrandAlias, bool]:
    """The alias and whether it was created; the same alias again returns the first one."""
    alias = normalize_name(data.alias) if data.kind == "name" else data.alias
    if not alias:
        raise InvalidInput(
            "alias is empty once punctuation is removed", field="alias", reason="empty"
        )
    existing = repo.alias_by_text(session, alias)
    if existing is not None:
        if existing.merchant_id == merchant.id:
            return existing, False
        raise Conflict(
            f"alias {alias!r} belongs to another merchant",
            field="alias",
            reason="alias_belongs_to_another_merchant",
        )
    assert merchant.id is not None
    row = BrandAlias(alias=alias, merchant_id=merchant.id)
    add_unique(session, row, field="alias", detail=f"alias {alias!r} is already registered")
    return row, True


def delete_alias(session: Session, merchant: Merchant, alias_id: int) -> None:
    assert merchant.id is not None
    row = repo.get_alias(session, merchant.id, alias_id)
    if row is None:
        raise NotFound(f"alias {alias_id} not found", field="alias_id")
    session.delete(row)
    session.flush()
