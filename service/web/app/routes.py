"""Every route of the member app (pages grouped by subject, one module each)."""

from __future__ import annotations

from fastapi import APIRouter

from service.web.app import pages_account, pages_accounts, pages_home, pages_placeholder

router = APIRouter()
for module in (pages_accounts, pages_account, pages_home, pages_placeholder):
    router.include_router(module.router)
