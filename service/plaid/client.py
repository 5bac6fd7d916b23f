"""The real `plaid-python` client, pointed at `plaid_host` (the stand-in in tests and demo)."""

from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass
from typing import Any

import plaid
from plaid.api.plaid_api import PlaidApi

from service.config import Settings
from service.observability.outbound import MeteredPlaidApiClient
from service.problems import Problem

LOGIN_REQUIRED = "ITEM_LOGIN_REQUIRED"
MUTATION_DURING_PAGINATION = "TRANSACTIONS_SYNC_MUTATION_DURING_PAGINATION"
# Errors after which the Item cannot be synced until the member links it again.
RELINK_CODES = frozenset(
    {LOGIN_REQUIRED, "INVALID_ACCESS_TOKEN", "ITEM_NOT_FOUND", "ACCESS_NOT_GRANTED"}
)


class PlaidNotConfigured(Problem):
    status = 503
    type_slug = "not-configured"
    title = "Not configured"


class PlaidUpstreamError(Problem):
    status = 502
    type_slug = "upstream-error"
    title = "Bank data provider error"


@dataclass(frozen=True)
class PlaidErrorInfo:
    status: int
    error_type: str
    error_code: str


def plaid_client(settings: Settings) -> PlaidApi:
    if not settings.plaid_client_id or not settings.plaid_secret:
        raise PlaidNotConfigured(
            "Plaid is not configured (CLO_PLAID_CLIENT_ID, CLO_PLAID_SECRET)",
            field="plaid",
            reason="no_credentials",
        )
    configuration = plaid.Configuration(
        host=settings.plaid_host,
        api_key={"clientId": settings.plaid_client_id, "secret": settings.plaid_secret},
    )
    return PlaidApi(MeteredPlaidApiClient(configuration))  # timed and counted for /metrics


def error_info(exc: plaid.ApiException) -> PlaidErrorInfo:
    """Plaid's error_type and error_code from a failed call (bodies are JSON)."""
    body: Any = None
    with contextlib.suppress(ValueError, TypeError):
        body = json.loads(exc.body or b"{}")
    body = body if isinstance(body, dict) else {}
    return PlaidErrorInfo(
        int(exc.status or 0),
        str(body.get("error_type") or "UNKNOWN"),
        str(body.get("error_code") or "UNKNOWN")[:64],
    )


def upstream(exc: plaid.ApiException) -> PlaidUpstreamError:
    info = error_info(exc)
    return PlaidUpstreamError(
        f"Plaid refused the call ({info.error_code})", field="plaid", reason=info.error_code
    )
