"""Verifying Plaid webhooks: the `Plaid-Verification` header is an ES256 JWT over the body.

Checks, in order, each failure a 400 problem and no side effect: a compact JWS of bounded
size; header `alg` exactly ES256 (none, HS256 and anything else refused before any key is
used); the key fetched by `kid` from /webhook_verification_key/get and cached as a JWK; the
signature, by PyJWT with ES256 as the only algorithm; `iat` at most five minutes old (and not
in the future) against the caller's clock; the SHA-256 of the raw body equal, compared in
constant time. A key marked expired verifies only tokens issued before it expired.
"""

from __future__ import annotations

import hashlib
import hmac
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import jwt
import plaid
from limits import parse
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter
from plaid.api.plaid_api import PlaidApi
from plaid.model.webhook_verification_key_get_request import WebhookVerificationKeyGetRequest

from service.plaid.client import error_info
from service.problems import Problem, TooManyRequests

HEADER = "Plaid-Verification"
MAX_TOKEN_CHARS = 4096
MAX_KID_CHARS = 128
MAX_CACHED_KEYS = 64
MAX_CACHED_MISSES = 1024
MISS_TTL_SECONDS = 600  # a kid Plaid did not know is not asked about again for this long
FUTURE_SKEW_SECONDS = 60


class WebhookRefused(Problem):
    status = 400
    type_slug = "webhook-refused"
    title = "Webhook refused"


def _refuse(detail: str, reason: str, field: str = HEADER) -> WebhookRefused:
    return WebhookRefused(detail, field=field, reason=reason)


@dataclass(frozen=True)
class VerificationKey:
    jwk: jwt.PyJWK
    expired_at: int | None


class KeyCache:
    """Webhook verification keys by kid, fetched from Plaid on first sight (bounded).

    Unknown kids are remembered too (for MISS_TTL_SECONDS), and fetches are rate-limited:
    forged webhooks naming ever new kids cost at most `fetches_per_minute` calls to Plaid.
    """

    def __init__(
        self,
        client: PlaidApi,
        *,
        fetches_per_minute: int = 10,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.client = client
        self._keys: dict[str, VerificationKey] = {}
        self._misses: OrderedDict[str, float] = OrderedDict()
        self._lock = threading.Lock()
        self._clock = clock
        self._fetch_limit = parse(f"{fetches_per_minute}/minute")
        self._fetch_limiter = MovingWindowRateLimiter(MemoryStorage())
        self.fetches = 0

    def _known_miss(self, kid: str) -> bool:
        with self._lock:
            at = self._misses.get(kid)
            if at is not None and self._clock() - at < MISS_TTL_SECONDS:
                return True
            self._misses.pop(kid, None)
            return False

    def _remember_miss(self, kid: str) -> None:
        with self._lock:
            self._misses[kid] = self._clock()
            while len(self._misses) > MAX_CACHED_MISSES:
                self._misses.popitem(last=False)

    def get(self, kid: str) -> VerificationKey:
        with self._lock:
            found = self._keys.get(kid)
        if found is not None:
            return found
        if self._known_miss(kid):
            raise _refuse("unknown key id", "unknown_key")
        if not self._fetch_limiter.hit(self._fetch_limit, "plaid-key-fetch"):
            raise TooManyRequests(
                "too many unknown webhook key ids; retry later",
                field=HEADER,
                reason="key_fetches_limited",
                headers={"Retry-After": "60"},
            )
        try:
            jwk = self.client.webhook_verification_key_get(
                WebhookVerificationKeyGetRequest(key_id=kid)
            ).key
        except plaid.ApiException as exc:
            info = error_info(exc)
            self._remember_miss(kid)
            raise _refuse(f"unknown key id ({info.error_code})", "unknown_key") from None
        finally:
            self.fetches += 1
        if (str(jwk.alg), str(jwk.kty), str(jwk.crv)) != ("ES256", "EC", "P-256"):
            raise _refuse("the key is not an ES256 P-256 key", "bad_key")
        try:
            public = jwt.PyJWK(
                {"kty": "EC", "crv": "P-256", "x": str(jwk.x), "y": str(jwk.y)},
                algorithm="ES256",
            )
        except (jwt.PyJWKError, jwt.InvalidKeyError, ValueError):
            raise _refuse("the key is not a valid P-256 point", "bad_key") from None
        expired = getattr(jwk, "expired_at", None)
        key = VerificationKey(public, int(expired) if expired is not None else None)
        with self._lock:
            if len(self._keys) >= MAX_CACHED_KEYS:
                self._keys.pop(next(iter(self._keys)))
            self._keys[kid] = key
        return key


def verify(
    token: str | None, body: bytes, keys: KeyCache, *, now_unix: int, max_age_seconds: int
) -> dict[str, Any]:
    """The verified claims, or WebhookRefused."""
    if not token:
        raise _refuse(f"{HEADER} header is required", "missing_header")
    if len(token) > MAX_TOKEN_CHARS or token.count(".") != 2:
        raise _refuse(f"{HEADER} is not a compact JWS", "malformed")
    try:
        header = jwt.get_unverified_header(token)
    except jwt.DecodeError:
        raise _refuse(f"{HEADER} is not a compact JWS", "malformed") from None
    # Checked before any key is fetched: a forged alg costs nothing.
    if header.get("alg") != "ES256":
        raise _refuse("only ES256 is accepted", "bad_algorithm")
    kid = header.get("kid")
    if not isinstance(kid, str) or not kid or len(kid) > MAX_KID_CHARS:
        raise _refuse("the token names no key id", "malformed")
    key = keys.get(kid)
    try:
        # Time is checked below against the caller's clock, not PyJWT's.
        claims: dict[str, Any] = jwt.decode(
            token,
            key.jwk,
            algorithms=["ES256"],
            options={"verify_iat": False, "verify_exp": False, "verify_nbf": False},
        )
    except jwt.InvalidSignatureError:
        raise _refuse("the signature does not verify", "bad_signature") from None
    except jwt.InvalidTokenError:
        raise _refuse(f"{HEADER} is not a compact JWS", "malformed") from None
    iat = claims.get("iat")
    if not isinstance(iat, int) or isinstance(iat, bool):
        raise _refuse("the token has no iat", "malformed")
    if now_unix - iat > max_age_seconds or iat - now_unix > FUTURE_SKEW_SECONDS:
        raise _refuse(f"iat is more than {max_age_seconds} s from now", "stale")
    if key.expired_at is not None and iat > key.expired_at:
        raise _refuse("the key had expired when the token was issued", "expired_key")
    offered = claims.get("request_body_sha256")
    expected = hashlib.sha256(body).hexdigest()
    if (
        not isinstance(offered, str)
        or not offered.isascii()
        or not hmac.compare_digest(offered, expected)
    ):
        raise _refuse("the body does not match the signed hash", "body_mismatch")
    return claims
