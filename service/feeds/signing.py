"""HMAC-SHA256 signatures on network feed webhooks: key id, timestamp, raw body.

The one place the scheme lives: the receiver verifies with `verify`, and every sender (tests,
tools, the browser world) signs with `signed_headers`.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping

from service.problems import Unauthorized

SIGNATURE_SCHEME = "v1"
KEY_ID_HEADER = "X-CLO-Key-Id"
TIMESTAMP_HEADER = "X-CLO-Timestamp"
SIGNATURE_HEADER = "X-CLO-Signature"


def sign(secret: str, timestamp: int, body: bytes) -> str:
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"{SIGNATURE_SCHEME}={mac.hexdigest()}"


def signed_headers(key_id: str, secret: str, body: bytes, *, now_unix: int) -> dict[str, str]:
    """The headers a sender puts on `body`: key id, timestamp and signature."""
    return {
        KEY_ID_HEADER: key_id,
        TIMESTAMP_HEADER: str(now_unix),
        SIGNATURE_HEADER: sign(secret, now_unix, body),
    }


def verify(
    keys: Mapping[str, str],
    *,
    key_id: str | None,
    timestamp: str | None,
    signature: str | None,
    body: bytes,
    now_unix: int,
    window_seconds: int,
) -> None:
    """Raise Unauthorized naming the header at fault; return quietly when the body is genuine."""
    if not key_id:
        raise Unauthorized(
            "X-CLO-Key-Id header is required", field="X-CLO-Key-Id", reason="missing_header"
        )
    secret = keys.get(key_id)
    if secret is None:
        raise Unauthorized("unknown signing key id", field="X-CLO-Key-Id", reason="unknown_key")
    if not timestamp or not timestamp.isdigit() or len(timestamp) > 12:
        raise Unauthorized(
            "X-CLO-Timestamp must be Unix seconds",
            field="X-CLO-Timestamp",
            reason="invalid_timestamp",
        )
    if abs(now_unix - int(timestamp)) > window_seconds:
        raise Unauthorized(
            f"timestamp outside the {window_seconds} s replay window",
            field="X-CLO-Timestamp",
            reason="stale_timestamp",
        )
    if not signature:
        raise Unauthorized(
            "X-CLO-Signature header is required", field="X-CLO-Signature", reason="missing_header"
        )
    expected = sign(secret, int(timestamp), body)
    # A header may carry several signatures during key rotation: "v1=..., v1=...".
    offered = [s.strip() for s in signature.split(",")]
    if not any(hmac.compare_digest(expected, s) for s in offered):
        raise Unauthorized(
            "signature does not match the body", field="X-CLO-Signature", reason="bad_signature"
        )
