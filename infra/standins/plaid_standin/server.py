"""HTTP plumbing: Plaid's wire format on top of `http.server.ThreadingHTTPServer`.

Plaid API calls are JSON POSTs authenticated by `client_id`/`secret` in the body or the
`PLAID-CLIENT-ID`/`PLAID-SECRET` headers (the SDK uses the headers). Paths under `/_standin/`
are the stand-in's own control API: JSON in, `{"result": ...}` out, no credentials.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hmac
import json
import logging
import secrets
import socket
import string
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from . import errors, link
from .api import ENDPOINTS, check_fields

if TYPE_CHECKING:
    from .standin import PlaidStandin

log = logging.getLogger("infra.standins.plaid_standin")

MAX_BODY_BYTES = 5 * 1024 * 1024
CONTROL_PREFIX = "/_standin/"
_REQUEST_ID_ALPHABET = string.ascii_letters + string.digits

# control path -> PlaidStandin method called with the JSON body as keyword arguments
CONTROL_METHODS = {
    "items/create": "create_item",
    "transactions/add": "add_transactions",
    "transactions/add_pending": "add_pending_transaction",
    "transactions/add_posted": "add_posted_transaction",
    "transactions/post": "post_pending_transaction",
    "transactions/remove": "remove_transaction",
    "transactions/modify": "modify_transaction",
    "transactions/refund": "add_refund",
    "sync/force_mutation_error": "force_sync_mutation_error",
    "item/login_required": "require_login",
    "item/repair_login": "repair_login",
    "item/fire_webhook": "fire_webhook",
    "item/fire_error": "fire_item_error",
    "items/start_not_ready": "items_start_not_ready",
    "transactions/advance_update": "advance_transactions_update",
    "sync/inject_error": "inject_sync_error",
    "access_token/revoke": "revoke_access_token",
    "webhook_key/rotate": "rotate_webhook_key",
    "webhooks": "webhook_deliveries",
    "violations": "violation_list",
    "reset": "reset",
}


def new_request_id() -> str:
    return "".join(secrets.choice(_REQUEST_ID_ALPHABET) for _ in range(15))


def _jsonable(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    return value


class StandinHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], standin: PlaidStandin) -> None:
        self.standin = standin
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__(address, _Handler)

    def track(self, connection: socket.socket, alive: bool) -> None:
        with self._connections_lock:
            if alive:
                self._connections.add(connection)
            else:
                self._connections.discard(connection)

    def close_connections(self) -> None:
        """Drop idle keep-alive connections so their handler threads end."""
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "PlaidStandin/1.0"
    timeout = 120
    server: StandinHTTPServer

    def setup(self) -> None:
        super().setup()
        self.server.track(self.connection, True)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.track(self.connection, False)

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s - " + format, self.address_string(), *args)

    def do_POST(self) -> None:
        self._dispatch()

    def do_GET(self) -> None:
        self._dispatch()

    def do_OPTIONS(self) -> None:
        # CORS preflight of the Link script's call from the page
        self._send_raw(204, b"", "text/plain", link.CORS_HEADERS)

    # ---- dispatch -------------------------------------------------------------------------

    def _dispatch(self) -> None:
        path = urlsplit(self.path).path
        raw = self._read_body()
        if path == link.SCRIPT_PATH and self.command == "GET":
            self._send_raw(200, link.script(), "text/javascript", link.CORS_HEADERS)
            return
        if path == link.COMPLETE_PATH and self.command == "POST":
            self._link_complete(raw)
            return
        if path.startswith(CONTROL_PREFIX):
            status, body = self._control(path[len(CONTROL_PREFIX) :], raw)
            self._send(status, body)
            return
        request_id = new_request_id()
        try:
            if raw is None:
                raise errors.invalid_body(f"request body larger than {MAX_BODY_BYTES} bytes")
            status, body = 200, self._plaid(path, raw)
            body["request_id"] = request_id
        except errors.PlaidAPIError as exc:
            status, body = exc.status, exc.body(request_id)
        except errors.ConnectionDrop:
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)
            return
        except Exception:
            log.exception("plaid stand-in failed on %s", path)
            error = errors.internal_error("an unexpected error occurred in the Plaid stand-in")
            status, body = error.status, error.body(request_id)
        status, body = self.server.standin.checked_response(path, status, body)
        self._send(status, body)

    def _plaid(self, path: str, raw: bytes) -> dict[str, Any]:
        endpoint = ENDPOINTS.get(path)
        if endpoint is None or self.command != "POST":
            raise errors.not_found(path)
        try:
            body = json.loads(raw or b"null")
        except (ValueError, UnicodeDecodeError) as exc:
            raise errors.invalid_body() from exc
        if not isinstance(body, dict):
            raise errors.invalid_body("body must be a JSON object")
        self._authenticate(body)
        check_fields(endpoint, body)
        return endpoint.handler(self.server.standin, body)

    def _authenticate(self, body: dict[str, Any]) -> None:
        client_id = body.get("client_id") or self.headers.get("PLAID-CLIENT-ID")
        secret = body.get("secret") or self.headers.get("PLAID-SECRET")
        missing = [
            name for name, value in (("client_id", client_id), ("secret", secret)) if not value
        ]
        if missing:
            raise errors.missing_fields(missing)
        if not isinstance(client_id, str) or not isinstance(secret, str):
            raise errors.invalid_api_keys()
        standin = self.server.standin
        same_client = hmac.compare_digest(client_id.encode(), standin.client_id.encode())
        same_secret = hmac.compare_digest(secret.encode(), standin.secret.encode())
        if not (same_client and same_secret):
            raise errors.invalid_api_keys()

    def _control(self, action: str, raw: bytes | None) -> tuple[int, dict[str, Any]]:
        request_id = new_request_id()
        method_name = CONTROL_METHODS.get(action.strip("/"))
        if method_name is None:
            return 404, errors.not_found(CONTROL_PREFIX + action).body(request_id)
        try:
            kwargs = json.loads(raw or b"{}") if raw is not None else None
        except (ValueError, UnicodeDecodeError):
            kwargs = None
        if not isinstance(kwargs, dict):
            return 400, errors.invalid_body("body must be a JSON object").body(request_id)
        try:
            result = getattr(self.server.standin, method_name)(**kwargs)
        except errors.PlaidAPIError as exc:
            return exc.status, exc.body(request_id)
        except TypeError as exc:
            return 400, errors.invalid_field(str(exc)).body(request_id)
        return 200, {"result": _jsonable(result), "request_id": request_id}

    def _link_complete(self, raw: bytes | None) -> None:
        request_id = new_request_id()
        try:
            body = json.loads(raw or b"{}")
            if not isinstance(body, dict):
                raise errors.invalid_body("body must be a JSON object")
            status, result = 200, link.complete(self.server.standin.state, body)
            result["request_id"] = request_id
        except (ValueError, UnicodeDecodeError):
            status, result = 400, errors.invalid_body().body(request_id)
        except errors.PlaidAPIError as exc:
            status, result = exc.status, exc.body(request_id)
        self._send_raw(status, json.dumps(result).encode(), "application/json", link.CORS_HEADERS)

    # ---- I/O ------------------------------------------------------------------------------

    def _send_raw(
        self, status: int, payload: bytes, content_type: str, headers: dict[str, str]
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(payload)))
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(payload)

    def _read_body(self) -> bytes | None:
        """The request body; None when it is over the limit (the connection is then closed)."""
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = 0
        if length > MAX_BODY_BYTES:
            self.close_connection = True
            return None
        return self.rfile.read(length) if length > 0 else b""

    def _send(self, status: int, body: dict[str, Any]) -> None:
        payload = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(payload)))
        if "request_id" in body:
            self.send_header("Plaid-Request-Id", str(body["request_id"]))
        self.end_headers()
        self.wfile.write(payload)
