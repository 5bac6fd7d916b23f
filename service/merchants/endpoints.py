"""Merchants, their locations, brand aliases and API keys."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import Depends, Response, status
from sqlmodel import Session

from service.auth import Principal, Role, db_session, require
from service.merchants import repository as repo
from service.merchants import service
from service.merchants.common import Id, Page, PageParams, page_of, page_params
from service.merchants.schemas import (
    AliasCreate,
    AliasOut,
    ApiKeyCreate,
    ApiKeyOut,
    LocationCreate,
    LocationOut,
    LocationUpdate,
    MerchantCreate,
    MerchantOut,
    MerchantUpdate,
)
from service.openapi_problems import REPEATED_200
from service.problems import InvalidInput
from service.routing import make_router

router = make_router(prefix="/merchants", tags=["merchants"])

admin_only = require(Role.ADMIN)
merchant_or_admin = require(Role.MERCHANT)
merchant_readers = require(Role.MERCHANT, Role.FINANCE)


@router.post("", status_code=status.HTTP_201_CREATED, summary="Create a merchant (admin)")
def create_merchant(
    body: MerchantCreate,
    session: Session = db_session,
    _principal: Principal = Depends(admin_only),
) -> MerchantOut:
    merchant = service.create_merchant(session, body, now=datetime.now(UTC))
    return MerchantOut.model_validate(merchant, from_attributes=True)


@router.get("", summary="List merchants (admin)")
def list_merchants(
    page: PageParams = Depends(page_params),
    session: Session = db_session,
    _principal: Principal = Depends(admin_only),
) -> Page[MerchantOut]:
    rows = repo.list_merchants(session, after_id=page.after_id, limit=page.limit + 1)
    return page_of(rows, page.limit, lambda r: MerchantOut.model_validate(r, from_attributes=True))


@router.get("/{merchant_id}", summary="Read a merchant")
def get_merchant(
    merchant_id: Id,
    session: Session = db_session,
    principal: Principal = Depends(merchant_readers),
) -> MerchantOut:
    merchant = service.merchant_in_scope(session, principal, merchant_id)
    return MerchantOut.model_validate(merchant, from_attributes=True)


@router.patch("/{merchant_id}", summary="Change a merchant's brand name or time zone")
def update_merchant(
    merchant_id: Id,
    body: MerchantUpdate,
    session: Session = db_session,
    principal: Principal = Depends(merchant_or_admin),
) -> MerchantOut:
    merchant = service.merchant_in_scope(session, principal, merchant_id)
    merchant = service.update_merchant(session, merchant, body, principal=principal)
    return MerchantOut.model_validate(merchant, from_attributes=True)


@router.post(
    "/{merchant_id}/api-keys",
    status_code=status.HTTP_201_CREATED,
    summary="Issue a merchant-scoped API key (admin); the token is shown once",
)
def issue_api_key(
    merchant_id: Id,
    body: ApiKeyCreate | None = None,
    session: Session = db_session,
    principal: Principal = Depends(admin_only),
) -> ApiKeyOut:
    merchant = service.merchant_in_scope(session, principal, merchant_id)
    name = body.name if body is not None else ""
    expires_at = body.expires_at if body is not None else None
    now = datetime.now(UTC)
    if expires_at is not None and expires_at <= now:
        raise InvalidInput("expires_at is in the past", field="expires_at", reason="in_the_past")
    return service.issue_merchant_key(session, merchant, name=name, expires_at=expires_at, now=now)


@router.post(
    "/{merchant_id}/locations", status_code=status.HTTP_201_CREATED, summary="Add a location"
)
def create_location(
    merchant_id: Id,
    body: LocationCreate,
    session: Session = db_session,
    principal: Principal = Depends(merchant_or_admin),
) -> LocationOut:
    merchant = service.merchant_in_scope(session, principal, merchant_id)
    location = service.create_location(session, merchant, body, now=datetime.now(UTC))
    return LocationOut.model_validate(location, from_attributes=True)


@router.get("/{merchant_id}/locations", summary="List a merchant's locations")
def list_locations(
    merchant_id: Id,
    page: PageParams = Depends(page_params),
    session: Session = db_session,
    principal: Principal = Depends(merchant_readers),
) -> Page[LocationOut]:
    service.merchant_in_scope(session, principal, merchant_id)
    rows = repo.list_locations(session, merchant_id, after_id=page.after_id, limit=page.limit + 1)
    return page_of(rows, page.limit, lambda r: LocationOut.model_validate(r, from_attributes=True))


@router.get("/{merchant_id}/locations/{location_id}", summary="Read a location")
def get_location(
    merchant_id: Id,
    location_id: Id,
    session: Session = db_session,
    principal: Principal = Depends(merchant_readers),
) -> LocationOut:
    merchant = service.merchant_in_scope(session, principal, merchant_id)
    location = service.location_in_scope(session, merchant, location_id)
    return LocationOut.model_validate(location, from_attributes=True)


@router.patch(
    "/{merchant_id}/locations/{location_id}",
    summary="Rename a location (locations are never deleted: card events point at them)",
)
def update_location(
    merchant_id: Id,
    location_id: Id,
    body: LocationUpdate,
    session: Session = db_session,
    principal: Principal = Depends(merchant_or_admin),
) -> LocationOut:
    merchant = service.merchant_in_scope(session, principal, merchant_id)
    location = service.location_in_scope(session, merchant, location_id)
    location = service.update_location(session, location, body)
    return LocationOut.model_validate(location, from_attributes=True)


@router.post(
    "/{merchant_id}/aliases",
    status_code=status.HTTP_201_CREATED,
    responses=REPEATED_200,
    summary="Add a brand alias (admin); the same alias again returns the first with 200",
)
def add_alias(
    merchant_id: Id,
    body: AliasCreate,
    response: Response,
    session: Session = db_session,
    principal: Principal = Depends(admin_only),
) -> AliasOut:
    merchant = service.merchant_in_scope(session, principal, merchant_id)
    alias, created = service.add_alias(session, merchant, body)
    if not created:
        response.status_code = status.HTTP_200_OK
    return AliasOut.model_validate(alias, from_attributes=True)


@router.get("/{merchant_id}/aliases", summary="List a merchant's brand aliases")
def list_aliases(
    merchant_id: Id,
    page: PageParams = Depends(page_params),
    session: Session = db_session,
    principal: Principal = Depends(merchant_readers),
) -> Page[AliasOut]:
    service.merchant_in_scope(session, principal, merchant_id)
    rows = repo.list_aliases(session, merchant_id, after_id=page.after_id, limit=page.limit + 1)
    return page_of(rows, page.limit, lambda r: AliasOut.model_validate(r, from_attributes=True))


@router.delete(
    "/{merchant_id}/aliases/{alias_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Remove a brand alias (admin)",
)
def delete_alias(
    merchant_id: Id,
    alias_id: Id,
    session: Session = db_session,
    principal: Principal = Depends(admin_only),
) -> Response:
    merchant = service.merchant_in_scope(session, principal, merchant_id)
    service.delete_alias(session, merchant, alias_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
