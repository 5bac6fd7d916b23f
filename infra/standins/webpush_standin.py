"""A stand-in for a Web Push service (RFC 8030), refusing what real push services refuse.

It plays both sides a real push service connects: `subscribe()` makes a browser's
subscription (an endpoint on this server, a P-256 key pair and an auth secret, as
PushManager.subscribe returns), and a POST to the endpoint is checked as FCM and Mozilla
autopush check it:

- `Authorization: vapid t=<JWT>, k=<public key>` (RFC 8292): an ES256 JWT signed by that key,
  `aud` the endpoint's origin, `exp` in the future and at most 24 h away, `sub` a mailto: or
  https: contact; else 401 (missing) or 403 (bad);
- `TTL` header present (400 without), `Content-Encoding: aes128gcm` (400 otherwise), a body of
  at most 4096 bytes (413);
- the body decrypts (RFC 8291) with the subscription's private key and auth secret (400);
- an endpoint that was unsubscribed is 410 Gone, an unknown one 404.

Accepted messages are kept decrypted with their headers, for the tests to read.
"""

from __future__ import annotations

import base64
import json
import os
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import http_ece
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

MAX_PAYLOAD_BYTES = 4096
MAX_JWT_LIFETIME_S = 24 * 3600


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@dataclass
class BrowserSubscription:
    """What the browser keeps (private key, auth secret) and what it gives the app."""

    endpoint: str
    private_key: ec.EllipticCurvePrivateKey
    auth_secret: bytes

    def as_json(self) -> dict[str, Any]:
        """PushSubscription.toJSON()."""
        public = self.private_key.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
        return {
            "endpoint": self.endpoint,
            "expirationTime": None,
            "keys": {"p256dh": b64url(public), "auth": b64url(self.auth_secret)},
        }


@dataclass(frozen=True)
class PushMessage:
    endpoint: str
    payload: bytes
    ttl: int
    urgency: str | None
    vapid_claims: dict[str, Any]
    vapid_public_key: str


@dataclass
class _State:
    subscriptions: dict[str, BrowserSubscription] = field(default_factory=dict)
    gone: set[str] = field(default_factory=set)
    received: list[PushMessage] = field(default_factory=list)
    refused: list[tuple[int, str]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


class _Refused(Exception):
    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


def verify_vapid(authorization: str | None, endpoint: str, now: float) -> tuple[dict, str]:
    """The JWT's claims and the public key, once RFC 8292 is satisfied."""
    if not authorization or not authorization.lower().startswith("vapid "):
        raise _Refused(401, "missing vapid authorization")
    params = dict(
        part.strip().split("=", 1) for part in authorization[6:].split(",") if "=" in part
    )
    token, key = params.get("t"), params.get("k")
    if not token or not key:
        raise _Refused(401, "vapid needs t= and k=")
    try:
        header_b64, claims_b64, signature_b64 = token.split(".")
        header = json.loads(b64url_decode(header_b64))
        claims = json.loads(b64url_decode(claims_b64))
        raw_signature = b64url_decode(signature_b64)
        public = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), b64url_decode(key))
    except (ValueError, json.JSONDecodeError) as exc:
        raise _Refused(403, f"malformed vapid token: {exc}") from None
    if header.get("alg") != "ES256" or len(raw_signature) != 64:
        raise _Refused(403, "vapid token must be ES256")
    signature = encode_dss_signature(
        int.from_bytes(raw_signature[:32], "big"), int.from_bytes(raw_signature[32:], "big")
    )
    try:
        public.verify(signature, f"{header_b64}.{claims_b64}".encode(), ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        raise _Refused(403, "vapid signature does not verify") from None
    origin = "/".join(endpoint.split("/")[:3])
    if claims.get("aud") != origin:
        raise _Refused(403, f"vapid aud {claims.get('aud')!r} is not {origin!r}")
    exp = claims.get("exp")
    if not isinstance(exp, int) or exp <= now or exp > now + MAX_JWT_LIFETIME_S:
        raise _Refused(403, "vapid exp missing, past or more than 24 h away")
    if not str(claims.get("sub", "")).startswith(("mailto:", "https:")):
        raise _Refused(403, "vapid sub must be a mailto: or https: contact")
    return claims, key


class WebPushStandin:
    """`with WebPushStandin() as push:` serves on 127.0.0.1 until the block ends."""

    def __init__(self) -> None:
        self._state = _State()
        state = self._state

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                return

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                endpoint = f"http://{self.headers['Host']}{self.path}"
                try:
                    message = _accept(state, endpoint, self.headers, body)
                except _Refused as refused:
                    with state.lock:
                        state.refused.append((refused.status, refused.reason))
                    self.send_response(refused.status)
                    self.send_header("Content-Type", "text/plain")
                    self.end_headers()
                    self.wfile.write(refused.reason.encode())
                    return
                with state.lock:
                    state.received.append(message)
                self.send_response(201)
                self.send_header("Location", f"{self.path}/messages/{len(state.received)}")
                self.end_headers()

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> WebPushStandin:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def subscribe(self) -> BrowserSubscription:
        """A new browser subscription (what PushManager.subscribe would make)."""
        endpoint = f"{self.url}/push/{b64url(os.urandom(12))}"
        subscription = BrowserSubscription(
            endpoint, ec.generate_private_key(ec.SECP256R1()), os.urandom(16)
        )
        with self._state.lock:
            self._state.subscriptions[endpoint] = subscription
        return subscription

    def unsubscribe(self, endpoint: str) -> None:
        """The browser dropped it: later pushes are 410 Gone."""
        with self._state.lock:
            self._state.subscriptions.pop(endpoint, None)
            self._state.gone.add(endpoint)

    @property
    def received(self) -> list[PushMessage]:
        with self._state.lock:
            return list(self._state.received)

    @property
    def refused(self) -> list[tuple[int, str]]:
        with self._state.lock:
            return list(self._state.refused)


def _accept(state: _State, endpoint: str, headers: Any, body: bytes) -> PushMessage:
    with state.lock:
        subscription = state.subscriptions.get(endpoint)
        gone = endpoint in state.gone
    if subscription is None:
        raise _Refused(410 if gone else 404, "no such subscription")
    claims, key = verify_vapid(headers.get("Authorization"), endpoint, time.time())
    ttl = headers.get("TTL")
    if ttl is None or not ttl.isdigit():
        raise _Refused(400, "TTL header required")
    if len(body) > MAX_PAYLOAD_BYTES:
        raise _Refused(413, "payload over 4096 bytes")
    if body and headers.get("Content-Encoding") != "aes128gcm":
        raise _Refused(400, "Content-Encoding must be aes128gcm")
    try:
        payload = (
            http_ece.decrypt(
                body,
                private_key=subscription.private_key,
                auth_secret=subscription.auth_secret,
                version="aes128gcm",
            )
            if body
            else b""
        )
    except Exception as exc:  # http_ece raises plain exceptions on a bad record
        raise _Refused(400, f"payload does not decrypt: {type(exc).__name__}") from None
    return PushMessage(endpoint, payload, int(ttl), headers.get("Urgency"), claims, key)
