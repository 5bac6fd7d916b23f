"""Calls to Stripe and Plaid, timed and counted where the SDKs make them.

Stripe: the StripeClient's HTTP client (`http_client=`) is a RequestsClient that records each
attempt (retries included). Plaid: the ApiClient under PlaidApi records each `call_api`.
Endpoints are the request path with object ids replaced by {id}, so labels stay a closed set.
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

import plaid
import stripe

from service.observability.metrics import OUTBOUND_ERRORS, OUTBOUND_SECONDS

# Stripe object ids: a short lowercase prefix, "_", then letters and digits with at least one
# digit or capital (in_1Pq..., cus_Nx..., acct_1...); "payment_methods" is not one.
_STRIPE_ID = re.compile(r"[a-z]{1,8}_[A-Za-z0-9]*[0-9A-Z][A-Za-z0-9]*")


def stripe_endpoint(url: str) -> str:
    """`/v1/invoices/in_1Pq/finalize` -> `/v1/invoices/{id}/finalize`."""
    segments = urlsplit(url).path.split("/")
    return "/".join("{id}" if _STRIPE_ID.fullmatch(s) or s.isdigit() else s for s in segments)


def _record(provider: str, endpoint: str, started: float, failed: bool) -> None:
    OUTBOUND_SECONDS.labels(provider, endpoint).observe(time.perf_counter() - started)
    if failed:
        OUTBOUND_ERRORS.labels(provider, endpoint).inc()


class MeteredStripeHTTPClient(stripe.RequestsClient):
    def request(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str] | None,
        post_data: Any = None,
        *,
        _usage: list[str] | None = None,
    ) -> Any:
        endpoint = stripe_endpoint(url)
        started = time.perf_counter()
        try:
            answer = super().request(method, url, headers, post_data)
        except Exception:
            _record("stripe", endpoint, started, failed=True)
            raise
        _record("stripe", endpoint, started, failed=answer[1] >= 400)
        return answer


class MeteredPlaidApiClient(plaid.ApiClient):
    def call_api(self, resource_path: str, method: str, *args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            answer = super().call_api(resource_path, method, *args, **kwargs)
        except Exception:
            _record("plaid", resource_path, started, failed=True)
            raise
        _record("plaid", resource_path, started, failed=False)
        return answer
