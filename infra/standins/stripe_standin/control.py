"""The stand-in's own control API under `/_standin/` (not part of Stripe; no credentials).

JSON in (or a form body), JSON out; errors use Stripe's error envelope.

GET  health                        {"ok": true}
POST reset                         forget objects, events, idempotency keys, deliveries
GET  counters                      objects created and live per kind, replays, attempts
GET  deliveries                    every webhook delivery attempt
POST deliveries/wait               {"timeout": 5}: wait until no delivery is pending
GET  webhooks                      the configured endpoints
POST webhooks                      {"urls": [...], "secret"?, "enabled_events"?}: replace them
POST webhooks/add                  {"url": ..., "secret"?, "enabled_events"?}
POST idempotency/expire            {"key"?, "api_key"?, "older_than_seconds"?}
POST accounts/{acct}/fail_transfers  {"mode": "error" | "reverse" | "off"}
POST invoices/{in}/pay             {"out_of_band": true}: pay it outside the API
GET  invoices/{in}/hosted          the hosted invoice page (HTML)
"""

from __future__ import annotations

import html
import json
import re
from typing import TYPE_CHECKING, Any

from . import errors, forms

if TYPE_CHECKING:
    from .standin import StripeStandin

PREFIX = "/_standin/"
JSON = "application/json"


def _body(raw: bytes, content_type: str) -> dict[str, Any]:
    text = raw.decode("utf-8", errors="replace").strip()
    if not text:
        return {}
    if "json" in content_type or text.startswith("{"):
        try:
            value = json.loads(text)
        except json.JSONDecodeError:
            raise errors.invalid("Invalid JSON body.") from None
        if not isinstance(value, dict):
            raise errors.invalid("The body must be a JSON object.")
        return value
    return forms.parse_form(text)


def _truthy(value: Any, default: bool) -> bool:
    if value is None:
        return default
    return value in (True, "true", "1", 1, "on")


def _hosted_page(invoice: dict[str, Any]) -> bytes:
    esc = html.escape
    amount = f"{invoice['amount_due'] / 100:.2f} {invoice['currency'].upper()}"
    lines = "".join(
        f"<tr><td>{esc(line['description'] or '')}</td><td>{line['amount'] / 100:.2f}</td></tr>"
        for line in invoice["lines"]["data"]
    )
    pay = (
        f'<form method="post" action="/_standin/invoices/{esc(invoice["id"])}/pay">'
        '<input type="hidden" name="out_of_band" value="false"><button>Pay</button></form>'
        if invoice["status"] == "open"
        else ""
    )
    page = (
        "<!doctype html><html><head><meta charset='utf-8'>"
        f"<title>Invoice {esc(invoice['number'] or invoice['id'])}</title></head><body>"
        f"<h1>Invoice {esc(invoice['number'] or invoice['id'])}</h1>"
        f"<p>Status: <strong>{esc(invoice['status'])}</strong> · Amount due: {esc(amount)}</p>"
        f"<table>{lines}</table>{pay}</body></html>"
    )
    return page.encode()


def handle(
    standin: StripeStandin, method: str, path: str, query: str, raw: bytes, content_type: str
) -> tuple[int, bytes, str]:
    """Dispatch one control request; returns (status, body, content type)."""
    route = path[len(PREFIX) :].strip("/")
    body = _body(raw, content_type) if method == "POST" else forms.parse_form(query)
    result: Any

    if (match := re.fullmatch(r"invoices/([^/]+)/hosted", route)) and method == "GET":
        with standin.store.lock:
            page = _hosted_page(standin.store.require("invoice", match.group(1)))
        return 200, page, "text/html; charset=utf-8"

    if route == "health" and method == "GET":
        result = {"ok": True, "url": standin.url}
    elif route == "reset" and method == "POST":
        standin.reset()
        result = {"reset": True}
    elif route == "counters" and method == "GET":
        result = standin.counters()
    elif route == "deliveries" and method == "GET":
        result = {"data": [attempt.as_dict() for attempt in standin.deliveries]}
    elif route == "deliveries/wait" and method == "POST":
        timeout = float(body.get("timeout") or 5)
        result = {"idle": standin.wait_for_webhooks(timeout=min(timeout, 60))}
    elif route == "webhooks" and method == "GET":
        endpoints = standin.webhook_endpoints
        result = {
            "data": [{"url": e.url, "enabled_events": list(e.enabled_events)} for e in endpoints]
        }
    elif route == "webhooks" and method == "POST":
        urls = body.get("urls") or []
        if isinstance(urls, str):
            urls = [urls]
        standin.set_webhook_endpoints(
            urls, secret=body.get("secret"), enabled_events=body.get("enabled_events")
        )
        result = {"data": [e.url for e in standin.webhook_endpoints]}
    elif route == "webhooks/add" and method == "POST":
        url = body.get("url")
        if not url:
            raise errors.missing("url")
        standin.add_webhook_endpoint(
            url, secret=body.get("secret"), enabled_events=body.get("enabled_events")
        )
        result = {"data": [e.url for e in standin.webhook_endpoints]}
    elif route == "idempotency/expire" and method == "POST":
        older = body.get("older_than_seconds")
        expired = standin.expire_idempotency_keys(
            key=body.get("key"),
            api_key=body.get("api_key"),
            older_than_seconds=float(older) if older is not None else None,
        )
        result = {"expired": expired}
    elif (match := re.fullmatch(r"accounts/([^/]+)/fail_transfers", route)) and method == "POST":
        mode = body.get("mode", "error")
        standin.fail_transfers_to(match.group(1), mode=None if mode == "off" else mode)
        result = {"account": match.group(1), "mode": mode}
    elif (match := re.fullmatch(r"invoices/([^/]+)/pay", route)) and method == "POST":
        out_of_band = _truthy(body.get("out_of_band"), True)
        result = standin.pay_invoice(match.group(1), out_of_band=out_of_band)
        if "json" not in content_type and raw and not out_of_band:  # the hosted page's form
            return 200, _hosted_page(result), "text/html; charset=utf-8"
    else:
        raise errors.unrecognized_url(method, path)
    return 200, json.dumps(result, indent=2).encode(), JSON
