"""Password hashing with argon2 (pwdlib's recommended parameters)."""

from __future__ import annotations

from pwdlib import PasswordHash

_hasher = PasswordHash.recommended()
# Verified against when no account matches, so an unknown email costs as much as a wrong
# password and timing does not tell which emails have accounts.
_DUMMY_HASH = _hasher.hash("not-a-real-password")

MIN_PASSWORD_CHARS = 10
MAX_PASSWORD_CHARS = 200


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password: str, stored_hash: str | None) -> tuple[bool, str | None]:
    """(matches, a new hash when the stored one uses outdated parameters)."""
    if stored_hash is None:
        _hasher.verify(password, _DUMMY_HASH)
        return False, None
    return _hasher.verify_and_update(password, stored_hash)
