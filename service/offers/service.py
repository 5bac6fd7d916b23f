"""Offer rules, edits and lifecycle: draft -> scheduled -> live -> paused -> ended.

A draft is freely editable. Once published an offer can only change in ways that never take
cashback away from members: richer rewards, a bigger budget, a later end, a lower minimum
spend, a new title. Rewards already earned live in the ledger and are never touched here.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlmodel import Session

from matching.offers import BPS_DENOMINATOR, in_holdout
from service.auth import Principal, Role
from service.merchants import repository as merchant_repo
from service.offers import repository as repo
from service.offers.catalog import MATCHABLE_STATUSES
from service.offers.schemas import DayPartOut, MemberOfferOut, OfferCreate, OfferOut, OfferUpdate
from service.problems import Conflict, Forbidden, InvalidInput, NotFound
from service.tables import Merchant, Offer
from settlement.budget import ensure_budget
from settlement.outbox import OutboxEventType, record_outbox_event

# Pricing is the platform's to set: a merchant key may only repeat the current values.
ADMIN_ONLY_FIELDS = ("commission_bps", "commission_base")
# Limits that may be "no limit" (None); everything else has a default and cannot be null.
NULLABLE_FIELDS = frozenset({
    "max_reward_amount", "ends_at", "channel", "member_max_rewards", "member_max_reward_amount",
    "budget_amount", "max_redemptions", "stamp_every_n", "threshold_amount",
})  # fmt: skip
# How a published offer's fields may move: up, down, later, or freely. None is "no limit".
RAISE_ONLY = frozenset({"rate_bps", "reward_amount", "max_reward_amount", "budget_amount",
                        "max_redemptions"})  # fmt: skip
LOWER_ONLY = frozenset({"min_spend_amount"})
EXTEND_ONLY = frozenset({"ends_at"})
FREE = frozenset({"title"})
TRANSITIONS = {
    "publish": ("draft",),
    "pause": ("live", "scheduled"),
    "resume": ("paused",),
    "end": ("draft", "scheduled", "live", "paused"),
}


def offer_in_scope(session: Session, principal: Principal, offer_id: int) -> Offer:
    """The offer, if the caller may see it: a merchant key only sees its own merchant's."""
    offer = repo.get_offer(session, offer_id)
    if offer is None or (
        principal.role is Role.MERCHANT and offer.merchant_id != principal.merchant_id
    ):
        raise NotFound(f"offer {offer_id} not found", field="offer_id")
    return offer


def visible_to_member(offer: Offer, member_id: int) -> bool:
    """Open offers a member is not held out of; the control group sees nothing."""
    return offer.status in MATCHABLE_STATUSES and not in_holdout(
        offer.id or 0, member_id, offer.holdout_bps
    )


# -- rules ----------------------------------------------------------------------------------
def _windows_json(windows: list[Any] | None, *, bonus: bool) -> str:
    out = []
    for w in windows or ():
        d = w if isinstance(w, dict) else w.model_dump()
        out.append(
            {
                "weekdays": sorted(d["weekdays"]),
                "start_minute": d["start_minute"],
                "end_minute": d["end_minute"],
                "multiplier_bps": d["multiplier_bps"] if bonus else 10_000,
            }
        )
    return json.dumps(out, separators=(",", ":"))


def _require(values: dict[str, Any], name: str, why: str) -> None:
    if values.get(name) in (None, 0):
        raise InvalidInput(f"{name} is required {why}", field=name, reason="required")


def _forbid(values: dict[str, Any], name: str, why: str, empty: Any = None) -> None:
    if values.get(name) not in (None, empty):
        raise InvalidInput(f"{name} applies only {why}", field=name, reason="not_applicable")


def check_rules(values: dict[str, Any]) -> None:
    """Rules across fields, on the whole offer as it would be stored."""
    if values["reward_type"] == "percent":
        _require(values, "rate_bps", "for a percent reward")
        _forbid(values, "reward_amount", "to a fixed reward", 0)
    else:
        _require(values, "reward_amount", "for a fixed reward")
        _forbid(values, "rate_bps", "to a percent reward", 0)
        cap = values.get("max_reward_amount")
        if cap is not None and cap < values["reward_amount"]:
            raise InvalidInput(
                "max_reward_amount is below reward_amount",
                field="max_reward_amount",
                reason="below_reward_amount",
            )
    if values["kind"] == "stamp_card":
        _require(values, "stamp_every_n", "for a stamp card (at least 2)")
    else:
        _forbid(values, "stamp_every_n", "to a stamp card")
    if values["kind"] == "spend_threshold":
        _require(values, "threshold_amount", "for a spend threshold")
    else:
        _forbid(values, "threshold_amount", "to a spend threshold")
    if values["audience"] == "everyone":
        _forbid(values, "lookback_days", "to new, lapsed or existing customer audiences", 0)
    else:
        _require(values, "lookback_days", f"(> 0) for the {values['audience']} audience")
    if values["commission_base"] == "reward" and values["commission_bps"] >= BPS_DENOMINATOR:
        # The merchant pays reward x 10000 / (10000 - bps): at 100% that is no amount at all.
        raise InvalidInput(
            "commission_bps on the reward must be below 10000 (100%)",
            field="commission_bps",
            reason="commission_too_high",
        )
    ends_at = values.get("ends_at")
    if ends_at is not None and ends_at <= values["starts_at"]:
        raise InvalidInput(
            "ends_at must be after starts_at", field="ends_at", reason="ends_before_start"
        )


def _check_locations(session: Session, merchant_id: int, location_ids: list[int]) -> None:
    wanted = set(location_ids)
    if len(wanted) != len(location_ids):
        raise InvalidInput("location_ids repeat", field="location_ids", reason="duplicate")
    owned = merchant_repo.location_ids_of(session, merchant_id, wanted)
    for i, location_id in enumerate(location_ids):
        if location_id not in owned:
            raise InvalidInput(
                f"location {location_id} is not one of this merchant's",
                field=f"location_ids.{i}",
                reason="unknown_location",
            )


def _check_pricing(principal: Principal, sent: dict[str, Any], current: dict[str, Any]) -> None:
    if principal.role is Role.ADMIN:
        return
    for name in ADMIN_ONLY_FIELDS:
        if name in sent and sent[name] != current[name]:
            raise Forbidden(f"only an admin may set {name}", field=name, reason="admin_only")


def _set_budget(session: Session, offer: Offer) -> None:
    assert offer.id is not None
    ensure_budget(
        session.connection(),
        offer_id=offer.id,
        currency=offer.currency,
        budget_amount=offer.budget_amount,
        max_redemptions=offer.max_redemptions,
    )


def create_offer(
    session: Session,
    merchant: Merchant,
    data: OfferCreate,
    *,
    principal: Principal,
    now: datetime,
) -> Offer:
    assert merchant.id is not None
    sent = data.model_dump(exclude_unset=True)
    defaults = {"commission_bps": merchant.default_commission_bps, "commission_base": "reward"}
    _check_pricing(principal, sent, defaults)
    fields = data.model_dump(exclude={"location_ids", "dayparts", "bonus_windows"})
    for name, value in list(fields.items()):
        if value is None and name not in NULLABLE_FIELDS:
            del fields[name]  # the table's default
    fields.setdefault("commission_bps", merchant.default_commission_bps)
    location_ids = data.location_ids or []
    offer = Offer(
        **fields,
        merchant_id=merchant.id,
        status="draft",
        currency=merchant.currency,
        brand_wide=not location_ids,
        dayparts_json=_windows_json(data.dayparts, bonus=False),
        bonus_windows_json=_windows_json(data.bonus_windows, bonus=True),
        created_at=now,
        updated_at=now,
    )
    check_rules(_values(offer))
    _check_locations(session, merchant.id, location_ids)
    session.add(offer)
    session.flush()
    assert offer.id is not None
    repo.replace_locations(session, offer.id, location_ids)
    _set_budget(session, offer)
    return offer


def _values(offer: Offer) -> dict[str, Any]:
    return offer.model_dump()


def _same(name: str, old: Any, new: Any) -> bool:
    if name == "location_ids":
        return sorted(old) == sorted(new or [])
    return old == new


def _widens(name: str, old: Any, new: Any) -> bool:
    """Whether moving a published offer's field from old to new never takes cashback away."""
    if name in FREE:
        return True
    if name in RAISE_ONLY or name in EXTEND_ONLY:
        return new is None or (old is not None and new >= old)
    if name in LOWER_ONLY:
        return new is not None and new <= old
    return False


def update_offer(
    session: Session, offer: Offer, data: OfferUpdate, *, principal: Principal, now: datetime
) -> Offer:
    assert offer.id is not None
    sent = data.model_dump(exclude_unset=True)
    current = _values(offer)
    current["location_ids"] = repo.location_ids_by_offer(session, [offer.id])[offer.id]
    current["dayparts"] = json.loads(offer.dayparts_json)
    current["bonus_windows"] = json.loads(offer.bonus_windows_json)
    for name in ("location_ids", "dayparts", "bonus_windows"):
        if name in sent and sent[name] is None:
            sent[name] = []  # null and empty both mean "none"
    for name in ("dayparts", "bonus_windows"):
        if name in sent:
            sent[name] = json.loads(_windows_json(sent[name], bonus=name == "bonus_windows"))
    for name, value in sent.items():
        if value is None and name not in NULLABLE_FIELDS:
            raise InvalidInput(f"{name} cannot be null", field=name, reason="null_not_allowed")
    _check_pricing(principal, sent, current)
    changes = {k: v for k, v in sent.items() if not _same(k, current[k], v)}
    if not changes:
        return offer
    if offer.status == "ended":
        name = next(iter(changes))
        raise Conflict("an ended offer cannot change", field=name, reason="offer_ended")
    if offer.status != "draft":
        for name, value in changes.items():
            if not _widens(name, current[name], value):
                raise Conflict(
                    f"{name} cannot change this way on a {offer.status} offer: only changes "
                    "that never take cashback away are allowed once published",
                    field=name,
                    reason="live_offer_change_not_allowed",
                )
    location_ids = changes.pop("location_ids", None)
    for name in ("dayparts", "bonus_windows"):
        if name in changes:
            setattr(offer, f"{name}_json", json.dumps(changes.pop(name), separators=(",", ":")))
    for name, value in changes.items():
        setattr(offer, name, value)
    if location_ids is not None:
        _check_locations(session, offer.merchant_id, location_ids)
        offer.brand_wide = not location_ids
        repo.replace_locations(session, offer.id, location_ids)
    check_rules(_values(offer))
    if "budget_amount" in changes or "max_redemptions" in changes:
        _check_reserved(session, offer)
    offer.updated_at = now
    session.add(offer)
    session.flush()
    if "budget_amount" in changes or "max_redemptions" in changes:
        _set_budget(session, offer)
    return offer


def _check_reserved(session: Session, offer: Offer) -> None:
    assert offer.id is not None
    reserved, redeemed = repo.budget_usage(session, [offer.id]).get(offer.id, (0, 0))
    if offer.budget_amount is not None and offer.budget_amount < reserved:
        raise Conflict(
            f"budget_amount is below the {reserved} already reserved",
            field="budget_amount",
            reason="budget_below_reserved",
        )
    if offer.max_redemptions is not None and offer.max_redemptions < redeemed:
        raise Conflict(
            f"max_redemptions is below the {redeemed} already redeemed",
            field="max_redemptions",
            reason="redemptions_below_used",
        )


def _require_billing_email(session: Session, merchant_id: int) -> None:
    """A live offer bills its merchant by emailed invoice, so it needs an address to go to."""
    merchant = session.get(Merchant, merchant_id)
    if merchant is None or not merchant.billing_email:
        raise Conflict(
            "the merchant needs a billing email before an offer is published",
            field="billing_email",
            reason="billing_email_required",
        )


def _tell(session: Session, offer: Offer, type_: OutboxEventType, now: datetime) -> None:
    """The offer's outbox event, in the request's transaction."""
    record_outbox_event(
        session.connection(),
        type_,
        occurred_at=now,
        now=now,
        merchant_id=offer.merchant_id,
        offer_id=offer.id,
        data={"status": offer.status},
    )


def transition(session: Session, offer: Offer, action: str, *, now: datetime) -> Offer:
    if offer.status not in TRANSITIONS[action]:
        raise Conflict(
            f"cannot {action} an offer that is {offer.status}",
            field="status",
            reason="invalid_transition",
        )
    if action == "end":
        offer.status = "ended"
        _tell(session, offer, OutboxEventType.OFFER_ENDED, now)
    elif action == "pause":
        offer.status = "paused"
    else:
        _require_billing_email(session, offer.merchant_id)
        if offer.ends_at is not None and offer.ends_at <= now:
            raise Conflict(
                "the offer's window has already closed; extend ends_at first",
                field="ends_at",
                reason="offer_window_closed",
            )
        offer.status = "scheduled" if offer.starts_at > now else "live"
        if action == "publish":
            _tell(session, offer, OutboxEventType.OFFER_PUBLISHED, now)
    offer.updated_at = now
    session.add(offer)
    session.flush()
    return offer


# -- views ----------------------------------------------------------------------------------
def _windows(text: str) -> list[DayPartOut]:
    return [DayPartOut(**w) for w in json.loads(text or "[]")]


def offers_out(session: Session, offers: list[Offer]) -> list[OfferOut]:
    ids = [o.id for o in offers if o.id is not None]
    locations = repo.location_ids_by_offer(session, ids)
    usage = repo.budget_usage(session, ids)
    out = []
    for o in offers:
        assert o.id is not None
        reserved, redeemed = usage.get(o.id, (0, 0))
        out.append(
            OfferOut(
                **o.model_dump(exclude={"dayparts_json", "bonus_windows_json", "brand_wide"}),
                location_ids=locations.get(o.id, []),
                dayparts=_windows(o.dayparts_json),
                bonus_windows=_windows(o.bonus_windows_json),
                reserved_amount=reserved,
                redemption_count=redeemed,
            )
        )
    return out


def offer_out(session: Session, offer: Offer) -> OfferOut:
    return offers_out(session, [offer])[0]


def member_offers(
    session: Session, member_id: int, *, now: datetime, after_id: int, limit: int
) -> tuple[list[MemberOfferOut], int | None]:
    """Open offers the member is not held out of, and the cursor for the next page."""
    found, next_cursor = visible_offers(session, member_id, now=now, after_id=after_id, limit=limit)
    names = repo.merchant_names(session, [o.merchant_id for o in found])
    activated = repo.activated_offer_ids(session, member_id, [o.id for o in found if o.id])
    items = [
        MemberOfferOut(
            **o.model_dump(include=set(MemberOfferOut.model_fields)),
            merchant_name=names.get(o.merchant_id, ""),
            dayparts=_windows(o.dayparts_json),
            bonus_windows=_windows(o.bonus_windows_json),
            activated=o.id in activated,
        )
        for o in found
    ]
    return items, next_cursor


def visible_offers(
    session: Session,
    member_id: int,
    *,
    now: datetime,
    after_id: int,
    limit: int,
    within: repo.OfferFilter | None = None,
    hidden: frozenset[int] = frozenset(),
) -> tuple[list[Offer], int | None]:
    """The rows of `member_offers`, and a page of the app's offer feed: open offers after
    `after_id` the member is not held out of, within the filter, less the `hidden` ones (those
    the feed shows in a section of their own), and the cursor of the next page."""
    found: list[Offer] = []
    cursor = after_id
    # A little more than a page: few offers hold a member out, and the loop reads on if
    # they do (twice the page was as many Offer rows again to build for nothing).
    batch = limit + 1 + max(limit // 4, 20) + len(hidden)
    exhausted = False
    for _ in range(20):  # bounded: holdouts are at most half of an offer's members
        rows = repo.open_offers(session, now=now, after_id=cursor, limit=batch, within=within)
        found.extend(
            row for row in rows if row.id not in hidden and visible_to_member(row, member_id)
        )
        exhausted = len(rows) < batch
        if rows:
            cursor = rows[-1].id or cursor
        if len(found) > limit or exhausted:
            break
    if len(found) > limit:
        found = found[:limit]
        next_cursor = found[-1].id
    else:
        next_cursor = None if exhausted else cursor
    return found, next_cursor
