"""Every route of the member app (pages grouped by subject, one module each)."""

from __future__ import annotations

from fastapi import APIRouter

from service.web.app import (
    pages_account,
    pages_accounts,
    pages_activity,
    pages_cards,
    pages_claims,
    pages_home,
    pages_notifications,
    pages_offers,
    pages_passkeys,
    pages_wallet,
)

router = APIRouter()
for module in (
    pages_accounts,
    pages_account,
    pages_passkeys,
    pages_home,
    pages_notifications,
    pages_offers,
    pages_cards,
    pages_wallet,
    pages_activity,
    pages_notifications,
    pages_claims,
):
    router.include_router(module.router)
