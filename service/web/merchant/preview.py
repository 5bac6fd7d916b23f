"""The live preview: what a sample purchase would earn under the offer being typed, and why.

It runs the production matching code on the draft: the form's fields become an `Offer`
row exactly as the offers service stores it, that row becomes `OfferRules` through the
same `rules_from_row` the feed's catalog uses, and `matching.match` decides.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from sqlalchemy import ColumnDefault

from matching.events import CardEvent, Channel, EventKind, Source
from matching.match import MatchContext, MemberOfferState, match
from matching.offers import in_holdout
from service.offers.catalog import rules_from_row
from service.offers.schemas import OfferCreate
from service.offers.service import NULLABLE_FIELDS, _windows_json
from service.tables import Merchant, Offer
from service.web.i18n import N_

Customer = Literal["new", "returning", "lapsed"]

# Reasons in the words of the merchant looking at their own offer.
WHY = {
    "qualified": N_("This purchase earns cashback."),
    "outside_window": N_("The purchase is outside the offer's start and end."),
    "daypart": N_("The purchase is outside the offer's days and hours (%(zone)s time)."),
    "holdout": N_("This member is in the control group: observed, never rewarded."),
    "not_activated": N_("The member has not activated the offer."),
    "not_new_customer": N_("The member bought here within the lookback period: not new."),
    "not_existing_customer": N_("The member has not bought here within the lookback period."),
    "not_lapsed_customer": N_("The member bought here recently (or never): not lapsed."),
    "below_min_spend": N_("The purchase is below the minimum spend."),
    "stamp_progress": N_("This visit adds a stamp; every %(nth)s visit pays."),
    "threshold_progress": N_(
        "This spend counts towards the goal; the reward comes when it is reached."
    ),
    "zero_reward": N_("The purchase is too small to earn anything."),
    "wrong_channel": N_("The offer is for another channel (online or in store)."),
    "tier_too_low": N_("The member's tier is below the offer's minimum."),
}


@dataclass(frozen=True)
class Sample:
    amount: int  # minor units
    at: datetime  # aware
    customer: Customer


@dataclass(frozen=True)
class PreviewResult:
    reason: str
    reward_amount: int
    commission_amount: int
    local_time: datetime


def draft_offer(merchant: Merchant, data: OfferCreate, *, offer_id: int, now: datetime) -> Offer:
    """The row the offers service would store for this form (not added to any session)."""
    fields = data.model_dump(exclude={"location_ids", "dayparts", "bonus_windows"})
    fields = {k: v for k, v in fields.items() if v is not None or k in ("ends_at",)}
    fields.setdefault("commission_bps", merchant.default_commission_bps)
    assert merchant.id is not None  # the signed-in merchant, read from the database
    return Offer(
        id=offer_id,
        **fields,
        merchant_id=merchant.id,
        status="draft",
        currency=merchant.currency,
        brand_wide=not data.location_ids,
        dayparts_json=_windows_json(data.dayparts, bonus=False),
        bonus_windows_json=_windows_json(data.bonus_windows, bonus=True),
        created_at=now,
        updated_at=now,
    )


class _Row:
    """What `rules_from_row` reads from a database row."""

    def __init__(self, values: dict[str, Any]) -> None:
        self._values = values

    def _asdict(self) -> dict[str, Any]:
        return self._values


def _member_outside_holdout(offer_id: int, holdout_bps: int) -> int:
    member_id = 1
    while holdout_bps and in_holdout(offer_id, member_id, holdout_bps):
        member_id += 1
    return member_id


def preview(offer: Offer, merchant: Merchant, sample: Sample, mids: list[str]) -> PreviewResult:
    defaults = {
        name: column.default.arg
        for name, column in Offer.__table__.columns.items()
        if isinstance(column.default, ColumnDefault) and not callable(column.default.arg)
    }
    values = {**defaults, **{k: v for k, v in offer.model_dump().items() if v is not None}}
    values.setdefault("ends_at", None)
    for name in NULLABLE_FIELDS:
        values.setdefault(name, None)
    rules = rules_from_row(_Row(values), frozenset(mids) if mids else None, merchant.timezone)
    offer_id = offer.id or 0
    member_id = _member_outside_holdout(offer_id, offer.holdout_bps)
    lookback = timedelta(days=max(offer.lookback_days, 1))
    last_purchase = {
        "new": None,
        "returning": sample.at - timedelta(days=1),
        "lapsed": sample.at - lookback - timedelta(days=30),
    }[sample.customer]
    context = MatchContext(
        member_id=member_id,
        activations={offer_id: sample.at - timedelta(hours=1)},
        last_brand_purchase_at=last_purchase,
        # A stamp card is previewed on the visit that completes it; a spend threshold on a
        # purchase that starts from nothing.
        offer_states={offer_id: MemberOfferState(stamp_count=(offer.stamp_every_n or 1) - 1)},
    )
    event = CardEvent(
        source=Source.NETWORK,
        external_id="preview",
        kind=EventKind.CLEARING,
        card_id=1,
        amount=sample.amount,
        currency=merchant.currency,
        occurred_at=sample.at,
        mid=mids[0] if mids else None,
        acquirer_id=None,
        descriptor=None,
        merchant_name=merchant.brand_name,
        mcc=None,
        country=None,
        postal_code=None,
        brand_hint=None,
        channel=Channel(offer.channel) if offer.channel else Channel.IN_STORE,
        original_external_id=None,
    )
    result = match(event, [rules], context)
    decision = result.decisions[0]
    from zoneinfo import ZoneInfo

    return PreviewResult(
        reason=decision.reason.value,
        reward_amount=decision.reward_amount,
        commission_amount=decision.commission_amount,
        local_time=sample.at.astimezone(ZoneInfo(merchant.timezone)),
    )


def windows_of(offer: Offer) -> list[dict]:
    return json.loads(offer.dayparts_json or "[]")
