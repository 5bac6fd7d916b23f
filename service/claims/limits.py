"""Claims filed per member are limited with `limits`: filing costs a person's time on the
merchant's side, so a member (or a stolen member token) cannot flood a merchant's queue."""

from __future__ import annotations

import math
import time

from fastapi import Request
from limits import RateLimitItem, parse_many
from limits.storage import storage_from_string
from limits.strategies import MovingWindowRateLimiter

from service.problems import TooManyRequests


class ClaimLimiter:
    def __init__(self, per_member: str, storage_uri: str = "memory://") -> None:
        self._items: list[RateLimitItem] = parse_many(per_member)
        self._limiter = MovingWindowRateLimiter(storage_from_string(storage_uri))

    def hit(self, member_id: int) -> None:
        """Count one filing, or refuse it (429 with Retry-After) when a window is full."""
        ident = str(member_id)
        for item in self._items:
            if not self._limiter.test(item, "claims", ident):
                stats = self._limiter.get_window_stats(item, "claims", ident)
                retry = max(1, math.ceil(stats.reset_time - time.time()))
                raise TooManyRequests(
                    f"too many claims filed; retry in {retry} s",
                    field="member_id",
                    reason="too_many_claims",
                    headers={"Retry-After": str(retry)},
                )
        for item in self._items:
            self._limiter.hit(item, "claims", ident)


def claim_limiter(request: Request) -> ClaimLimiter:
    """The app's limiter (the API and the member app share it), made on first use."""
    found = getattr(request.app.state, "claim_limiter", None)
    if found is None:
        settings = request.app.state.settings
        found = ClaimLimiter(settings.claim_limit_per_member, settings.rate_limit_storage_uri)
        request.app.state.claim_limiter = found
    return found
