"""Secrets at rest (Plaid access tokens): MultiFernet over the configured keys, newest first.

Encryption always uses the newest key; decryption tries every configured key, so a key can be
added in front, every row re-encrypted (`clo keys rotate`), and only then the old key removed.
The development key is refused outside development.
"""

from __future__ import annotations

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from service.config import DEV_ENCRYPTION_KEY, Settings
from service.problems import Problem


class EncryptionNotConfigured(Problem):
    """No usable key: what needs a secret at rest answers 503 instead of storing it plain."""

    status = 503
    type_slug = "not-configured"
    title = "Not configured"

    def __init__(self, detail: str) -> None:
        super().__init__(detail, field="CLO_ENCRYPTION_KEYS", reason="encryption_not_configured")


class SecretBox:
    def __init__(self, keys: list[str]) -> None:
        if not keys:
            raise EncryptionNotConfigured("CLO_ENCRYPTION_KEYS holds no key")
        try:
            self._fernet = MultiFernet([Fernet(k.encode()) for k in keys])
        except (ValueError, TypeError) as exc:
            raise EncryptionNotConfigured(
                "every encryption key must be 32 url-safe base64-encoded bytes (Fernet)"
            ) from exc

    def encrypt(self, plaintext: str) -> str:
        return self._fernet.encrypt(plaintext.encode()).decode("ascii")

    def decrypt(self, token: str) -> str:
        """The plaintext; raises InvalidToken when no configured key opens it."""
        return self._fernet.decrypt(token.encode("ascii")).decode()

    def rotate(self, token: str) -> str:
        """The same secret encrypted under the newest key."""
        return self._fernet.rotate(token.encode("ascii")).decode("ascii")


def secret_box(settings: Settings) -> SecretBox:
    if settings.environment != "development" and DEV_ENCRYPTION_KEY in settings.encryption_keys:
        raise EncryptionNotConfigured(
            "the development encryption key is only allowed in development: set CLO_ENCRYPTION_KEYS"
        )
    return SecretBox(settings.encryption_keys)


__all__ = ["EncryptionNotConfigured", "InvalidToken", "SecretBox", "secret_box"]
