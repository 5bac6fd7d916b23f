"""Web Push (RFC 8030) with VAPID (RFC 8292) through pywebpush: the payload is encrypted
for the browser's subscription keys (aes128gcm) and the request signed with our key pair."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from pywebpush import WebPushException, webpush

from service.config import Settings

PUSH_TTL_S = 24 * 3600


@dataclass(frozen=True, slots=True)
class PushTarget:
    subscription_id: int
    endpoint: str
    p256dh: str
    auth: str


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def generate_vapid_keys() -> tuple[str, str]:
    """A fresh key pair: (private key as base64url raw scalar, public key as base64url of
    the uncompressed point, which the browser's PushManager takes)."""
    key = ec.generate_private_key(ec.SECP256R1())
    private = key.private_numbers().private_value.to_bytes(32, "big")
    public = key.public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    return _b64url(private), _b64url(public)


def push_configured(settings: Settings) -> bool:
    return bool(settings.vapid_private_key and settings.vapid_public_key)


def send_push(settings: Settings, target: PushTarget, payload: dict[str, str]) -> str | None:
    """None when the push service accepted it; "gone" when the subscription no longer
    exists (404/410: the caller forgets it); else why not."""
    try:
        webpush(
            {"endpoint": target.endpoint, "keys": {"p256dh": target.p256dh, "auth": target.auth}},
            data=json.dumps(payload),
            vapid_private_key=settings.vapid_private_key,
            vapid_claims={"sub": settings.vapid_subject},
            ttl=PUSH_TTL_S,
            timeout=settings.smtp_timeout_seconds,
        )
    except WebPushException as exc:
        status = exc.response.status_code if exc.response is not None else None
        if status in (404, 410):
            return "gone"
        return f"push_{status or 'error'}"
    except OSError as exc:
        return f"push_unavailable: {type(exc).__name__}"
    return None
