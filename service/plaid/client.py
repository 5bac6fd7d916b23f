"""The real `plaid-python` client, pointed at `plaid_host` (the stand-in in tests and demo)."""

from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass
from typing import Any

import plaid
import urllib3
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

# Errors that say "later", not "never": Plaid's own advice is to retry them with backoff.
RETRY_LATER_CODES = frozenset(
    {
        "INSTITUTION_DOWN",
        "INSTITUTION_NOT_RESPONDING",
        "INSTITUTION_NOT_AVAILABLE",
        "INTERNAL_SERVER_ERROR",
        "PLANNED_MAINTENANCE",
    }
)
CONNECTION_ERROR = "CONNECTION_ERROR"


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


def is_transient(exc: BaseException) -> bool:
    """A failure a later call may not meet: rate limits, an institution or Plaid down, 5xx,
    the network (plaid-python lets urllib3's connection errors through)."""
    if isinstance(exc, urllib3.exceptions.HTTPError | ConnectionError):
        return True
    if not isinstance(exc, plaid.ApiException):
        return False
    info = error_info(exc)
    return (
        info.status == 429
        or info.status >= 500
        or info.error_type == "RATE_LIMIT_EXCEEDED"
        or info.error_code in RETRY_LATER_CODES
    )


def failure_code(exc: BaseException) -> tuple[str, int | None]:
    """Plaid's error code and HTTP status for a failed call (the network has neither)."""
    if isinstance(exc, plaid.ApiException):
        info = error_info(exc)
        return info.error_code, info.status or None
    return CONNECTION_ERROR, None


def upstream(exc: plaid.ApiException) -> PlaidUpstreamError:
    info = error_info(exc)
    return PlaidUpstreamError(
        f"Plaid refused the call ({info.error_code})", field="plaid", reason=info.error_code
    )
