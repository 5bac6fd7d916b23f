"""Brand and locations: the time zone and name, locations one by one or from a CSV file."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import RedirectResponse
from sqlmodel import Session
from starlette.datastructures import UploadFile

from service.auth import db_session
from service.merchants import repository as repo
from service.merchants import service as merchants
from service.merchants.schemas import LocationCreate, MerchantUpdate
from service.problems import Problem
from service.web import csrf
from service.web.forms import FormErrors, errors_from_problem, validate
from service.web.merchant.common import merchant_of, owner, page, reader
from service.web.merchant.location_import import (
    COLUMNS,
    ImportResult,
    LineError,
    friendlier,
    import_locations,
)
from service.web.staff.identity import Staff
from service.web.templating import formatter_of

router = APIRouter(prefix="/merchant", include_in_schema=False)
protected = [Depends(csrf.require_csrf)]
MAX_FILE_BYTES = 90_000  # under the web layer's 100 KB limit on a request


def _page(request, session, who, *, values=None, errors=None, brand_errors=None,
          imported: ImportResult | None = None, status: int = 200) -> Response:  # fmt: skip
    locations = repo.list_locations(session, who.merchant_id, after_id=0, limit=1000)
    merchant = merchant_of(session, who)
    context = {
        "locations": locations,
        "values": values or {},
        "errors": errors or FormErrors(),
        "brand_errors": brand_errors or FormErrors(),
        "brand_values": {"brand_name": merchant.brand_name, "timezone": merchant.timezone},
        "imported": imported,
        "columns": COLUMNS,
    }
    return page(request, session, who, "merchant/locations.html", context, status)


@router.get("/locations")
def locations(request: Request, session: Session = db_session, who: Staff = Depends(reader)):
    return _page(request, session, who)


@router.post("/locations", dependencies=protected)
async def add_location(request: Request, session: Session = db_session, who=Depends(owner)):
    form = dict(await request.form())
    gettext = formatter_of(request).gettext
    data, errors = validate(LocationCreate, form, gettext)
    errors.fields = friendlier(errors.fields, gettext)
    if not errors:
        try:
            merchants.create_location(
                session, merchant_of(session, who), data, now=datetime.now(UTC)
            )
        except Problem as exc:
            session.rollback()
            errors = errors_from_problem(exc, set(COLUMNS), gettext)
        else:
            return RedirectResponse("/merchant/locations?added=1", status_code=303)
    values = {k: v for k, v in form.items() if k in COLUMNS and isinstance(v, str)}
    return _page(request, session, who, values=values, errors=errors, status=errors.status)


@router.post("/locations/upload", dependencies=protected)
async def upload_locations(request: Request, session: Session = db_session, who=Depends(owner)):
    form = await request.form()
    upload = form.get("file")
    raw = await upload.read(MAX_FILE_BYTES + 1) if isinstance(upload, UploadFile) else b""
    gettext = formatter_of(request).gettext
    if len(raw) > MAX_FILE_BYTES:
        result = ImportResult()
        result.errors.append(
            LineError(1, "file", gettext("The file is too large (at most 90 KB)."))
        )
    else:
        result = import_locations(
            session, merchant_of(session, who), raw, now=datetime.now(UTC), gettext=gettext
        )
    if result.errors:
        session.rollback()  # nothing half-imported
        return _page(request, session, who, imported=result, status=422)
    return RedirectResponse(f"/merchant/locations?imported={result.imported}", status_code=303)


@router.post("/brand", dependencies=protected)
async def update_brand(request: Request, session: Session = db_session, who=Depends(owner)):
    form = dict(await request.form())
    gettext = formatter_of(request).gettext
    data, errors = validate(MerchantUpdate, form, gettext)
    if not errors:
        try:
            merchants.update_merchant(
                session, merchant_of(session, who), data, principal=who.principal
            )
        except Problem as exc:
            session.rollback()
            errors = errors_from_problem(exc, {"brand_name", "timezone"}, gettext)
        else:
            return RedirectResponse("/merchant/locations?brand=1", status_code=303)
    return _page(request, session, who, brand_errors=errors, status=errors.status)
