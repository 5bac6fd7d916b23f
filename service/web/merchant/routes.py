"""Every route of the merchant portal (pages grouped by subject, one module each)."""

from __future__ import annotations

from fastapi import APIRouter

from service.web.merchant import (
    pages_claims,
    pages_locations,
    pages_names,
    pages_offers,
    pages_performance,
    pages_statements,
    pages_team,
)
from service.web.staff.pages import account_router

router = APIRouter()
router.include_router(account_router("merchant"))
for module in (
    pages_offers,
    pages_locations,
    pages_performance,
    pages_statements,
    pages_names,
    pages_claims,
    pages_team,
):
    router.include_router(module.router)
