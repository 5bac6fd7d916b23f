"""Unsubscribe links that work without signing in: a signed token naming member and channel.

The token is signed with the web secret key (itsdangerous, its own salt), so only this
server makes them; it never expires (an old email's link still works) and carries nothing
secret: the member id and the channel it turns off.
"""

from __future__ import annotations

from dataclasses import dataclass

from itsdangerous import BadSignature, URLSafeSerializer

SALT = "clo.notifications.unsubscribe"
CHANNELS = ("email", "push")


@dataclass(frozen=True, slots=True)
class Unsubscribe:
    member_id: int
    channel: str


def _serializer(secret_key: str) -> URLSafeSerializer:
    if not secret_key:
        raise ValueError("unsubscribe links need CLO_WEB_SECRET_KEY")
    return URLSafeSerializer(secret_key, salt=SALT)


def unsubscribe_token(secret_key: str, member_id: int, channel: str) -> str:
    return _serializer(secret_key).dumps({"m": member_id, "c": channel})


def read_unsubscribe_token(secret_key: str, token: str) -> Unsubscribe | None:
    """What a token turns off, or None when it was not made here (or was altered)."""
    try:
        value = _serializer(secret_key).loads(token)
    except BadSignature:
        return None
    if not isinstance(value, dict):
        return None
    member_id, channel = value.get("m"), value.get("c")
    if not isinstance(member_id, int) or channel not in CHANNELS:
        return None
    return Unsubscribe(member_id, channel)


def unsubscribe_url(origin: str, secret_key: str, member_id: int, channel: str) -> str:
    token = unsubscribe_token(secret_key, member_id, channel)
    return f"{origin.rstrip('/')}/app/unsubscribe/{token}"
