"""Every route of the finance console (pages grouped by subject, one module each)."""

from __future__ import annotations

from fastapi import APIRouter

from service.web.finance import pages_attribution, pages_ledger, pages_runs
from service.web.staff.pages import account_router

router = APIRouter()
router.include_router(account_router("finance"))
for module in (pages_runs, pages_ledger, pages_attribution):
    router.include_router(module.router)
