"""Matchable offers as `OfferRules` in an `OfferIndex`, rebuilt only when offers change
(when the catalog's version row has moved)."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import overload

from sqlalchemy import Connection, select

from matching.events import Channel
from matching.index import OfferIndex
from matching.offers import Audience, CommissionBase, DayPart, OfferKind, OfferRules, RewardType
from service.tables import (
    BrandAlias,
    Location,
    Merchant,
    Offer,
    OfferCatalogVersion,
    OfferLocation,
)

MATCHABLE_STATUSES = ("scheduled", "live")

_offer = Offer.__table__
_location = Location.__table__
_offer_location = OfferLocation.__table__
_merchant = Merchant.__table__
_alias = BrandAlias.__table__
_version = OfferCatalogVersion.__table__


@overload
def aware(value: datetime) -> datetime: ...
@overload
def aware(value: None) -> None: ...
def aware(value: datetime | None) -> datetime | None:
    """SQLite returns naive datetimes; every stored time is UTC."""
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=UTC)


def dayparts_from_json(text: str) -> tuple[DayPart, ...]:
    if not text or text == "[]":  # most offers
        return ()
    return tuple(
        DayPart(
            weekdays=frozenset(d["weekdays"]),
            start_minute=d["start_minute"],
            end_minute=d["end_minute"],
            multiplier_bps=d.get("multiplier_bps", 10_000),
        )
        for d in json.loads(text)
    )


def rules_from_row(row, mids: frozenset[str] | None, timezone: str) -> OfferRules:
    # By name from a dict: a Row's attribute access costs more than the rest of this function.
    r = row._asdict()
    return OfferRules(
        offer_id=r["id"],
        merchant_id=r["merchant_id"],
        brand_id=r["merchant_id"],
        currency=r["currency"],
        kind=OfferKind(r["kind"]),
        reward_type=RewardType(r["reward_type"]),
        rate_bps=r["rate_bps"],
        reward_amount=r["reward_amount"],
        max_reward_amount=r["max_reward_amount"],
        min_spend_amount=r["min_spend_amount"],
        location_mids=mids,
        starts_at=aware(r["starts_at"]),
        ends_at=aware(r["ends_at"]),
        timezone=timezone,
        dayparts=dayparts_from_json(r["dayparts_json"]),
        bonus_windows=dayparts_from_json(r["bonus_windows_json"]),
        audience=Audience(r["audience"]),
        lookback_days=r["lookback_days"],
        activation_required=r["activation_required"],
        member_max_rewards=r["member_max_rewards"],
        member_max_reward_amount=r["member_max_reward_amount"],
        budget_amount=r["budget_amount"],
        max_redemptions=r["max_redemptions"],
        stamp_every_n=r["stamp_every_n"],
        threshold_amount=r["threshold_amount"],
        hold_days=r["hold_days"],
        commission_bps=r["commission_bps"],
        commission_base=CommissionBase(r["commission_base"]),
        holdout_bps=r["holdout_bps"],
        created_at=aware(r["created_at"]),
        channel=Channel(r["channel"]) if r["channel"] else None,
        min_member_tier=r["min_member_tier"],
        birthday_bonus_bps=r["birthday_bonus_bps"],
    )


class OfferCatalog:
    """Holds the index in memory; `current` reloads it when the offer tables change.

    `on_loaded` runs after each load: a long-running process passes
    `service.runtime.freeze_long_lived_objects`, a test passes nothing.
    """

    def __init__(self, on_loaded: Callable[[], None] | None = None) -> None:
        self._on_loaded = on_loaded
        self._stamp: int | None = None
        self._index: OfferIndex | None = None
        self.rules: dict[int, OfferRules] = {}
        self.merchant_timezones: dict[int, str] = {}

    @property
    def loaded(self) -> bool:
        """Whether an index is in memory (readiness: a process that can match)."""
        return self._index is not None

    def _fingerprint(self, conn: Connection) -> int | None:
        """The catalog's version: one primary-key read per batch. Triggers bump it in the
        transaction of every write to the catalog's tables (migration 0011)."""
        found = conn.execute(select(_version.c.version).where(_version.c.id == 1)).scalar()
        return None if found is None else int(found)

    def current(self, conn: Connection) -> OfferIndex:
        stamp = self._fingerprint(conn)
        if self._index is None or stamp is None or stamp != self._stamp:
            self._index = None  # let the old index go before the new one is built
            self._index = self._load(conn)
            self._stamp = stamp
            if self._on_loaded is not None:
                self._on_loaded()
        return self._index

    def _load(self, conn: Connection) -> OfferIndex:
        self.merchant_timezones = dict(
            conn.execute(select(_merchant.c.id, _merchant.c.timezone)).all()
        )
        mid_to_brand = dict(conn.execute(select(_location.c.mid, _location.c.merchant_id)).all())
        aliases = dict(conn.execute(select(_alias.c.alias, _alias.c.merchant_id)).all())
        mids_by_offer: dict[int, set[str]] = {}
        for offer_id, mid in conn.execute(
            select(_offer_location.c.offer_id, _location.c.mid).join(
                _location, _location.c.id == _offer_location.c.location_id
            )
        ):
            mids_by_offer.setdefault(offer_id, set()).add(mid)
        self.rules = {}
        for row in conn.execute(select(_offer).where(_offer.c.status.in_(MATCHABLE_STATUSES))):
            mids = None if row.brand_wide else frozenset(mids_by_offer.get(row.id, ()))
            self.rules[row.id] = rules_from_row(row, mids, self.merchant_timezones[row.merchant_id])
        return OfferIndex(self.rules.values(), mid_to_brand=mid_to_brand, brand_aliases=aliases)

    def rules_for(self, conn: Connection, offer_id: int) -> OfferRules | None:
        """Rules of any offer, matchable or not (a paused offer's clearings still post)."""
        if offer_id in self.rules:
            return self.rules[offer_id]
        row = conn.execute(select(_offer).where(_offer.c.id == offer_id)).first()
        if row is None:
            return None
        mids = (
            None
            if row.brand_wide
            else frozenset(
                conn.execute(
                    select(_location.c.mid)
                    .join(_offer_location, _offer_location.c.location_id == _location.c.id)
                    .where(_offer_location.c.offer_id == offer_id)
                ).scalars()
            )
        )
        tz = conn.execute(
            select(_merchant.c.timezone).where(_merchant.c.id == row.merchant_id)
        ).scalar_one()
        return rules_from_row(row, mids, tz)
