"""HTTP plumbing: Stripe's v1 wire format on `http.server.ThreadingHTTPServer`.

- Auth: `Authorization: Bearer sk_test_...` (or HTTP Basic with the key as user name, which
  Stripe also accepts); a missing or unknown key is a 401 in Stripe's error envelope.
- Parameters: form-encoded bodies (POST) or query strings (GET/DELETE) with bracket syntax.
- `Idempotency-Key` on POST, scoped per API key: the same key with the same endpoint and
  parameters replays the stored status and body with `Idempotent-Replayed: true`; with other
  parameters it is a 400 `idempotency_error`. As on Stripe, validation failures (400, 401,
  404) are not stored, so a corrected retry with the same key still executes.
- Every API request runs under the store's lock, so two requests with one key never race;
  a request whose key is still in flight (another request with it not yet answered) gets
  409 `idempotency_key_in_use`, as on Stripe. Armed faults (`faults.py`) answer 429
  `rate_limit` or `lock_timeout`, or slow a request down.
- Paths under `/_standin/` are the stand-in's own control API (see `control.py`).
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import socket
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from . import (
    accounts,
    balances,
    billing,
    browser,
    control,
    errors,
    faults,
    forms,
    lifecycle,
    listing,
    payments,
)
from .routes import Route
from .store import DEFAULT_API_VERSION, IdempotencyRecord, RequestContext, random_token

if TYPE_CHECKING:
    from .standin import StripeStandin

log = logging.getLogger("infra.standins.stripe_standin")

MAX_BODY_BYTES = 1024 * 1024
MAX_IDEMPOTENCY_KEY_CHARS = 255
ROUTES: list[Route] = [
    *lifecycle.ROUTES,
    *balances.ROUTES,
    *billing.ROUTES,
    *payments.ROUTES,
    *accounts.ROUTES,
]


def resolve(method: str, path: str) -> tuple[Route, list[str]]:
    for route in ROUTES:
        if route.method == method and (args := route.match(path)) is not None:
            return route, list(args.values())
    raise errors.unrecognized_url(method, path)


def api_key_from(header: str | None) -> str | None:
    if not header:
        return None
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer":
        return value.strip() or None
    if scheme.lower() == "basic":
        try:
            decoded = base64.b64decode(value.strip()).decode()
        except (binascii.Error, UnicodeDecodeError):
            return None
        return decoded.split(":", 1)[0] or None
    return None


def encode(body: Any) -> bytes:
    return json.dumps(body, indent=2).encode()


class StripeHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], standin: StripeStandin) -> None:
        self.standin = standin
        super().__init__(address, StripeRequestHandler)


class StripeRequestHandler(BaseHTTPRequestHandler):
    server: StripeHTTPServer
    protocol_version = "HTTP/1.1"
    server_version = "stripe-standin/1.0"

    def setup(self) -> None:
        super().setup()
        # one response is written as headers then body: without NODELAY, Nagle's algorithm
        # and the client's delayed ACK add ~40 ms to every call
        self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s - %s", self.address_string(), format % args)

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")

    def do_DELETE(self) -> None:
        self._handle("DELETE")

    def do_OPTIONS(self) -> None:
        # CORS preflight of a browser calling with the publishable key
        self.send_body(204, b"", browser.CORS_HEADERS)

    # ---- plumbing -------------------------------------------------------------------------

    def _read_body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY_BYTES:
            self.close_connection = True  # the unread body would desynchronise keep-alive
            raise errors.StripeError(413, "Request body too large.")
        return self.rfile.read(length) if length > 0 else b""

    def send_body(
        self, status: int, body: bytes, headers: dict[str, str] | None = None,
        content_type: str = "application/json",
    ) -> None:  # fmt: skip
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-cache, no-store")
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        if self.headers.get("Origin") and not (headers or {}).get("Access-Control-Allow-Origin"):
            for name, value in browser.CORS_HEADERS.items():
                self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def _handle(self, method: str) -> None:
        split = urlsplit(self.path)
        request_id = "req_" + random_token(14)
        headers = {"Request-Id": request_id}
        try:
            body = self._read_body()
            if method == "GET" and split.path in browser.SCRIPT_PATHS:
                self.send_body(200, browser.script(), content_type="text/javascript")
                return
            if split.path.startswith(control.PREFIX):
                status, payload, content_type = control.handle(
                    self.server.standin, method, split.path, split.query, body,
                    self.headers.get("Content-Type", ""),
                )  # fmt: skip
                self.send_body(status, payload, content_type=content_type)
                return
            status, payload, extra = self._api(method, split.path, split.query, body, request_id)
            headers.update(extra)
        except errors.StripeError as exc:
            status, payload = exc.status, encode(exc.body(request_id))
            if exc.should_retry is not None:
                headers["Stripe-Should-Retry"] = "true" if exc.should_retry else "false"
        except Exception:  # a stand-in bug must still answer like Stripe's 500
            log.exception("stripe stand-in failed on %s %s", method, self.path)
            error = errors.StripeError(500, "An unknown error occurred", type_="api_error")
            status, payload = 500, encode(error.body(request_id))
            headers["Stripe-Should-Retry"] = "false"
        self.send_body(status, payload, headers)

    def _api(
        self, method: str, path: str, query: str, body: bytes, request_id: str
    ) -> tuple[int, bytes, dict[str, str]]:
        standin = self.server.standin
        api_key = api_key_from(self.headers.get("Authorization"))
        if api_key is None:
            raise errors.no_api_key()
        if not browser.is_publishable(api_key) and not standin.accepts(api_key):
            raise errors.bad_api_key(api_key)
        route, args = resolve(method, path)
        params = forms.parse_form(query)
        if method == "POST":
            params.update(forms.parse_form(body.decode("utf-8", errors="replace")))
        if browser.is_publishable(api_key):
            api_key = browser.act_as(standin, api_key, route, args, params)
        version = self.headers.get("Stripe-Version") or None
        headers = {"Stripe-Version": version or DEFAULT_API_VERSION}
        key = self.headers.get("Idempotency-Key") if method == "POST" else None
        if key is not None:
            headers["Idempotency-Key"] = key
            if len(key) > MAX_IDEMPOTENCY_KEY_CHARS:
                raise errors.invalid(
                    f"Idempotency-Key must be at most {MAX_IDEMPOTENCY_KEY_CHARS} characters.",
                    param="Idempotency-Key",
                )
        ctx = RequestContext(api_key, request_id, key, version)
        endpoint = f"{method} {route.template}"
        fingerprint = json.dumps({"path": path, "params": params}, sort_keys=True)
        if key is not None:
            standin.faults.enter(api_key, key)  # a second request with it meets a 409
        try:
            faults.apply(standin.faults.take(endpoint))
            return self._idempotent(route, args, params, ctx, endpoint, fingerprint, headers)
        finally:
            if key is not None:
                standin.faults.leave(api_key, key)

    def _idempotent(
        self,
        route: Route,
        args: list[str],
        params: dict[str, Any],
        ctx: RequestContext,
        endpoint: str,
        fingerprint: str,
        headers: dict[str, str],
    ) -> tuple[int, bytes, dict[str, str]]:
        store = self.server.standin.store
        api_key, key, request_id = ctx.api_key, ctx.idempotency_key, ctx.request_id or ""
        with store.lock:
            if key is not None:
                record = store.idempotency_get(api_key, key)
                if record is not None:
                    if record.endpoint != endpoint:
                        raise errors.idempotency_other_endpoint(key, record.endpoint, endpoint)
                    if record.fingerprint != fingerprint:
                        raise errors.idempotency_mismatch(key)
                    store.idempotent_replays += 1
                    headers.update(
                        {"Idempotent-Replayed": "true", "Original-Request": record.request_id}
                    )
                    return record.status, record.body, headers
            status, payload, keep = self._execute(route, args, params, ctx)
            if key is not None and keep:
                store.idempotency_put(
                    api_key, key,
                    IdempotencyRecord(endpoint, fingerprint, status, payload, request_id,
                                      store.clock()),
                )  # fmt: skip
        return status, payload, headers

    def _execute(
        self, route: Route, args: list[str], params: dict[str, Any], ctx: RequestContext
    ) -> tuple[int, bytes, bool]:
        store = self.server.standin.store
        try:
            forms.check_params(params, route.allowed)
            paths = forms.expand_paths(params)
            result = route.handler(store, ctx, params, *args)
            return 200, encode(listing.expand(result, paths, store)), True
        except errors.StripeError as exc:
            return exc.status, encode(exc.body(ctx.request_id)), exc.store_for_idempotency
