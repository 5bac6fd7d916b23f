"""The member's offer feed: what they can earn, grouped into near a goal, expiring soon,
activated and available, each with its terms, locations and progress.

Which offers a member sees is decided by the offers service (`member_offers`, the same call
as `GET /v1/offers`): offers they are held out of never appear, so they look like any
offer that does not apply to them.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlmodel import Session, col, select

from service.offers.catalog import aware
from service.offers.repository import activated_offer_ids
from service.offers.service import visible_offers
from service.tables import Location, MemberOfferState, Merchant, Offer, OfferLocation
from service.web.app.offer_terms import card_texts
from service.web.i18n import N_, Formatter

MAX_FEED_OFFERS = 300
EXPIRING_WITHIN = timedelta(days=7)
SHOWN_LOCATIONS = 3
# Category codes (merchants.schemas.Category) and their names on the page.
CATEGORIES = {
    "dining": N_("Dining"),
    "groceries": N_("Groceries"),
    "shopping": N_("Shopping"),
    "fuel": N_("Fuel"),
    "travel": N_("Travel"),
    "entertainment": N_("Entertainment"),
    "health": N_("Health"),
    "other": N_("Other"),
}


@dataclass
class Progress:
    value: int
    goal: int
    label: str


@dataclass
class OfferCard:
    id: int
    merchant: str
    category: str
    title: str
    headline: str
    terms: str
    locations: list[str]
    more_locations: int
    activation_required: bool
    activated: bool
    expiring: bool
    ends_label: str | None
    progress: Progress | None


@dataclass
class Feed:
    near_goal: list[OfferCard] = field(default_factory=list)
    expiring: list[OfferCard] = field(default_factory=list)
    activated: list[OfferCard] = field(default_factory=list)
    available: list[OfferCard] = field(default_factory=list)

    @property
    def count(self) -> int:
        return len(self.near_goal) + len(self.expiring) + len(self.activated) + len(self.available)


def _locations(session: Session, offers: list[Offer]) -> dict[int, list[str]]:
    """Location names per offer: the chosen ones, or all of the brand's."""
    merchant_ids = sorted({o.merchant_id for o in offers})
    # (id, name) pairs, not Location objects: a feed of hundreds of offers names every
    # location of their brands, and building ORM objects for them was most of this read.
    by_merchant: dict[int, list[tuple[int, str]]] = defaultdict(list)
    if merchant_ids:
        rows = session.exec(
            select(Location.merchant_id, Location.id, Location.name)
            .where(col(Location.merchant_id).in_(merchant_ids))
            .order_by(col(Location.id))
        )
        for merchant_id, location_id, name in rows:
            assert location_id is not None
            by_merchant[merchant_id].append((location_id, name))
    chosen: dict[int, set[int]] = defaultdict(set)
    narrow = [o.id for o in offers if not o.brand_wide and o.id is not None]
    if narrow:
        for link in session.exec(
            select(OfferLocation).where(col(OfferLocation.offer_id).in_(narrow))
        ):
            chosen[link.offer_id].add(link.location_id)
    out = {}
    for o in offers:
        assert o.id is not None
        locs = by_merchant[o.merchant_id]
        if not o.brand_wide:
            locs = [loc for loc in locs if loc[0] in chosen[o.id]]
        out[o.id] = [name for _, name in locs]
    return out


def _progress(offer: Offer, state: MemberOfferState | None, fmt: Formatter) -> Progress | None:
    if offer.kind == "stamp_card" and offer.stamp_every_n:
        done = (state.stamp_count if state else 0) % offer.stamp_every_n
        n = offer.stamp_every_n
        return Progress(done, n, fmt.gettext("%(done)s of %(n)s visits", done=done, n=n))
    if offer.kind == "spend_threshold" and offer.threshold_amount:
        goal = offer.threshold_amount
        if state is not None and state.threshold_paid:
            return Progress(goal, goal, fmt.gettext("Goal reached"))
        spent = min(state.threshold_spend_amount if state else 0, goal)
        label = fmt.gettext(
            "%(spent)s of %(goal)s",
            spent=fmt.money(spent, offer.currency),
            goal=fmt.money(goal, offer.currency),
        )
        return Progress(spent, goal, label)
    return None


def offer_cards(
    session: Session,
    member_id: int,
    offers: list[Offer],
    activated: set[int],
    fmt: Formatter,
    *,
    now: datetime,
) -> list[OfferCard]:
    merchants = {
        m.id: m
        for m in session.exec(
            select(Merchant).where(col(Merchant.id).in_(sorted({o.merchant_id for o in offers})))
        )
    }
    states = {
        s.offer_id: s
        for s in session.exec(
            select(MemberOfferState).where(
                MemberOfferState.member_id == member_id,
                col(MemberOfferState.offer_id).in_([o.id for o in offers]),
            )
        )
    }
    locations = _locations(session, offers)
    cards = []
    for o in offers:
        assert o.id is not None
        merchant = merchants[o.merchant_id]
        names = locations.get(o.id, [])
        ends = aware(o.ends_at)
        texts = card_texts(o, fmt, timezone=merchant.timezone)
        cards.append(
            OfferCard(
                id=o.id,
                merchant=merchant.brand_name,
                category=merchant.category,
                title=o.title,
                headline=texts[0],
                terms=texts[1],
                locations=names[:SHOWN_LOCATIONS],
                more_locations=max(0, len(names) - SHOWN_LOCATIONS),
                activation_required=o.activation_required,
                activated=o.id in activated,
                expiring=ends is not None and ends - now <= EXPIRING_WITHIN,
                ends_label=fmt.date(ends) if ends is not None else None,
                progress=_progress(o, states.get(o.id), fmt),
            )
        )
    return cards


def build_feed(
    session: Session,
    member_id: int,
    fmt: Formatter,
    *,
    now: datetime,
    category: str | None = None,
    search: str | None = None,
) -> Feed:
    found, _ = visible_offers(session, member_id, now=now, after_id=0, limit=MAX_FEED_OFFERS)
    activated = activated_offer_ids(session, member_id, [o.id for o in found if o.id])
    cards = offer_cards(session, member_id, found, activated, fmt, now=now)
    needle = (search or "").strip().casefold()
    feed = Feed()
    for card in cards:
        if category and card.category != category:
            continue
        if (
            needle
            and needle not in card.merchant.casefold()
            and needle not in card.title.casefold()
        ):
            continue
        if (
            card.progress is not None
            and card.progress.value > 0
            and card.progress.value < card.progress.goal
        ):
            feed.near_goal.append(card)
        elif card.expiring:
            feed.expiring.append(card)
        elif card.activated:
            feed.activated.append(card)
        else:
            feed.available.append(card)
    return feed


def one_card(
    session: Session,
    member_id: int,
    offer: Offer,
    activated: bool,
    fmt: Formatter,
    *,
    now: datetime,
) -> OfferCard:
    assert offer.id is not None
    return offer_cards(
        session, member_id, [offer], {offer.id} if activated else set(), fmt, now=now
    )[0]
