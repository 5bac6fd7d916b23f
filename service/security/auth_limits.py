"""Failed authentication is rate-limited per key id and per client address (`limits`).

Only failures count: a caller with a valid key is never slowed down by its own traffic, while
guessing secrets for one key id, or trying many key ids from one address, is cut off with a
429 and a Retry-After telling when the window frees up. The storage is `limits`' own (memory
by default; CLO_RATE_LIMIT_STORAGE_URI such as redis://host shares it between workers).
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from contextlib import contextmanager

from limits import RateLimitItem, parse
from limits.storage import storage_from_string
from limits.strategies import MovingWindowRateLimiter

from service.problems import Problem, TooManyRequests


class FailedAuthLimiter:
    def __init__(self, *, per_key: str, per_address: str, storage_uri: str = "memory://") -> None:
        self._per_key: RateLimitItem = parse(per_key)
        self._per_address: RateLimitItem = parse(per_address)
        self._limiter = MovingWindowRateLimiter(storage_from_string(storage_uri))

    def _retry_after_seconds(self, item: RateLimitItem, *identifiers: str) -> int:
        stats = self._limiter.get_window_stats(item, *identifiers)
        return max(1, math.ceil(stats.reset_time - time.time()))

    def check(self, *, key_id: str, address: str) -> None:
        """Refuse before any lookup when either the key id or the address is cut off."""
        for item, scope, ident in (
            (self._per_key, "key", key_id),
            (self._per_address, "address", address),
        ):
            if ident and not self._limiter.test(item, "auth-failures", scope, ident):
                retry = self._retry_after_seconds(item, "auth-failures", scope, ident)
                raise TooManyRequests(
                    f"too many failed authentications for this {scope}; retry in {retry} s",
                    field="Authorization",
                    reason="too_many_failed_authentications",
                    headers={"Retry-After": str(retry)},
                )

    @contextmanager
    def counting_failures(self, *, address: str, key_id: str = "") -> Iterator[None]:
        """For signed webhooks: refuse a cut-off address first, count a refused signature."""
        self.check(key_id=key_id, address=address)
        try:
            yield
        except Problem as exc:
            if exc.status in (400, 401):
                self.failed(key_id=key_id, address=address)
            raise

    def failed(self, *, key_id: str, address: str) -> None:
        if key_id:
            self._limiter.hit(self._per_key, "auth-failures", "key", key_id)
        if address:
            self._limiter.hit(self._per_address, "auth-failures", "address", address)
