"""ES256 signing for webhooks: the `Plaid-Verification` compact JWS and its JWK.

A Plaid webhook carries a JWT whose header is `{"alg": "ES256", "kid": ..., "typ": "JWT"}` and
whose payload is `{"iat": <unix seconds>, "request_body_sha256": <hex digest of the body>}`,
signed with a P-256 key. The JWS signature is the raw 64-byte `r || s`, not DER.
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

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

_COORDINATE_BYTES = 32  # P-256
_MAX_KEYS = 100


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _compact_json(value: dict[str, Any]) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


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
        numbers = self.public_key.public_numbers()
        return {
            "alg": "ES256",
            "crv": "P-256",
            "kid": self.kid,
            "kty": "EC",
            "use": "sig",
            "x": b64url(numbers.x.to_bytes(_COORDINATE_BYTES, "big")),
            "y": b64url(numbers.y.to_bytes(_COORDINATE_BYTES, "big")),
            "created_at": self.created_at,
            "expired_at": self.expired_at,
        }


def es256_sign(private_key: ec.EllipticCurvePrivateKey, signing_input: bytes) -> bytes:
    """ES256 signature in JWS form: r and s as 32-byte big-endian integers, concatenated."""
    der = private_key.sign(signing_input, ec.ECDSA(hashes.SHA256()))
    r, s = decode_dss_signature(der)
    return r.to_bytes(_COORDINATE_BYTES, "big") + s.to_bytes(_COORDINATE_BYTES, "big")


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
    header: dict[str, Any] = {"alg": "ES256", "kid": key.kid, "typ": "JWT"}
    header.update(header_overrides or {})
    payload = {
        "iat": int(time.time()) if iat is None else iat,
        "request_body_sha256": body_sha256 or hashlib.sha256(body).hexdigest(),
    }
    signing_input = b64url(_compact_json(header)) + "." + b64url(_compact_json(payload))
    signature = es256_sign(key.private_key, signing_input.encode("ascii"))
    return signing_input + "." + b64url(signature)


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
