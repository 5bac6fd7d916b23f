"""Linking a clearing to the authorization it settles.

The clearing often differs from its auth: another MID of the same brand, a tip added, several
auths batched. So the network's own link (`original_external_id`) wins when present, and
otherwise the closest plausible open auth of the same card, brand and currency is taken.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from matching.events import CardEvent


@dataclass(frozen=True, slots=True)
class OpenAuth:
    """An auth that has not been cleared, reversed or expired yet."""

    external_id: str
    card_id: int
    brand_id: int | None
    amount: int
    currency: str
    occurred_at: datetime


def link_clearing_to_auth(
    clearing: CardEvent,
    clearing_brand_id: int | None,
    open_auths: Sequence[OpenAuth],
    *,
    tolerance_bps: int = 2_500,
    window_days: int = 10,
) -> OpenAuth | None:
    """The open auth this clearing settles, or None.

    Without an explicit link the auth must be of the same card, brand and currency, at or
    before the clearing and at most `window_days` earlier, with the clearing amount within
    `tolerance_bps` of the auth amount. Among several, the closest amount wins, then the
    latest auth. An unknown brand never links by heuristics: two unidentified merchants
    are not evidence of one purchase.
    """
    original = clearing.original_external_id
    if original is not None:
        for auth in open_auths:
            if auth.external_id == original:
                return auth
    if clearing_brand_id is None:
        return None
    cleared_at = clearing.occurred_at
    earliest = cleared_at - timedelta(days=window_days)
    best: OpenAuth | None = None
    best_key: tuple[int, datetime] | None = None
    for auth in open_auths:
        if (
            auth.card_id != clearing.card_id
            or auth.brand_id != clearing_brand_id
            or auth.currency != clearing.currency
            or not earliest <= auth.occurred_at <= cleared_at
        ):
            continue
        difference = abs(clearing.amount - auth.amount)
        # Cross-multiplied so the tolerance test is exact integer arithmetic.
        if difference * 10_000 > tolerance_bps * auth.amount:
            continue
        key = (difference, auth.occurred_at)
        if (
            best_key is None
            or key[0] < best_key[0]
            or (key[0] == best_key[0] and key[1] > best_key[1])
        ):
            best, best_key = auth, key
    return best
