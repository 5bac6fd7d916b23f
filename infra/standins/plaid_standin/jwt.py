"""ES256 signing for webhooks: the `Plaid-Verification` compact JWS and its JWK.

A Plaid webhook carries a JWT whose header is `{"alg": "ES256", "kid": ..., "typ": "JWT"}` and
whose payload is `{"iat": <unix seconds>, "request_body_sha256": <hex digest of the body>}`,
signed with a P-256 key. PyJWT encodes and signs it (the JWS signature is the raw 64-byte
`r || s`, not DER) and writes the public key as a JWK.
"""

from __future__ import annotations

import base64
import hashlib
import json
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ec
from jwt.algorithms import ECAlgorithm

_MAX_KEYS = 100


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


@dataclass
class SigningKey:
    """One webhook signing key: the private half stays here, the JWK is published."""

    kid: str
    private_key: ec.EllipticCurvePrivateKey
    created_at: int
    expired_at: int | None = None

    @classmethod
    def generate(cls, now: int | None = None) -> SigningKey:
        return cls(
            kid=str(uuid.uuid4()),
            private_key=ec.generate_private_key(ec.SECP256R1()),
            created_at=int(time.time()) if now is None else now,
        )

    @property
    def public_key(self) -> ec.EllipticCurvePublicKey:
        return self.private_key.public_key()

    def jwk(self) -> dict[str, Any]:
        public = ECAlgorithm.to_jwk(self.public_key, as_dict=True)
        return {
            "alg": "ES256",
            "crv": public["crv"],
            "kid": self.kid,
            "kty": public["kty"],
            "use": "sig",
            "x": public["x"],
            "y": public["y"],
            "created_at": self.created_at,
            "expired_at": self.expired_at,
        }


def sign_plaid_jwt(
    body: bytes,
    key: SigningKey,
    *,
    iat: int | None = None,
    body_sha256: str | None = None,
    header_overrides: dict[str, Any] | None = None,
) -> str:
    """The `Plaid-Verification` header value for `body`.

    `iat`, `body_sha256` and `header_overrides` exist so tests can craft stale, mismatched or
    otherwise tampered tokens; by default the token is exactly what Plaid would send.
    """
    overrides = dict(header_overrides or {})
    forged_alg = overrides.pop("alg", None)
    payload = {
        "iat": int(time.time()) if iat is None else iat,
        "request_body_sha256": body_sha256 or hashlib.sha256(body).hexdigest(),
    }
    token = jwt.encode(
        payload, key.private_key, algorithm="ES256", headers={"kid": key.kid, **overrides}
    )
    if forged_alg is None:
        return token
    # Another alg is a forger's rewrite of a signed token's header (PyJWT would sign with it).
    header = {**jwt.get_unverified_header(token), "alg": forged_alg}
    rewritten = b64url(json.dumps(header, separators=(",", ":")).encode())
    return ".".join([rewritten, *token.split(".")[1:]])


@dataclass
class KeyRing:
    """The current signing key plus the earlier ones (kept, marked expired, for lookups)."""

    _keys: dict[str, SigningKey] = field(default_factory=dict)
    _current: str = ""
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        if not self._keys:
            self.rotate()

    @property
    def current(self) -> SigningKey:
        with self._lock:
            return self._keys[self._current]

    def rotate(self) -> SigningKey:
        """Make a new current key; the previous one gets `expired_at` and stays retrievable."""
        now = int(time.time())
        fresh = SigningKey.generate(now)
        with self._lock:
            if self._current:
                self._keys[self._current].expired_at = now
            self._keys[fresh.kid] = fresh
            self._current = fresh.kid
            while len(self._keys) > _MAX_KEYS:
                oldest = next(iter(self._keys))
                del self._keys[oldest]
        return fresh

    def get(self, kid: str) -> SigningKey | None:
        with self._lock:
            return self._keys.get(kid)

    def all(self) -> list[SigningKey]:
        with self._lock:
            return list(self._keys.values())
