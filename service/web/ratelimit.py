"""Sign-in attempts limited per account and per address, with the `limits` library.

Storage comes from `CLO_WEB_RATE_LIMIT_STORAGE` (memory:// per process; a redis:// URL
shares the counts between workers). Only failed attempts count, so a member who types the
password right is never locked out by their own earlier sign-ins.
"""

from __future__ import annotations

from dataclasses import dataclass

from limits import RateLimitItem, parse_many, storage, strategies


@dataclass
class SignInLimiter:
    limiter: strategies.MovingWindowRateLimiter
    per_account: list[RateLimitItem]
    per_address: list[RateLimitItem]

    @classmethod
    def from_settings(cls, settings) -> SignInLimiter:
        store = storage.storage_from_string(settings.web_rate_limit_storage)
        return cls(
            strategies.MovingWindowRateLimiter(store),
            parse_many(settings.web_sign_in_limit_per_account),
            parse_many(settings.web_sign_in_limit_per_address),
        )

    def _keys(self, audience: str, account: str, address: str):
        for item in self.per_account:
            yield item, (audience, "account", account.lower())
        for item in self.per_address:
            yield item, (audience, "address", address)

    def allowed(self, audience: str, account: str, address: str) -> bool:
        """Whether another attempt may be tried now (does not count one)."""
        return all(
            self.limiter.test(item, *key) for item, key in self._keys(audience, account, address)
        )

    def failed(self, audience: str, account: str, address: str) -> None:
        for item, key in self._keys(audience, account, address):
            self.limiter.hit(item, *key)

    def reset(self) -> None:
        self.limiter.storage.reset()
