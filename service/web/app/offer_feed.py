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

from service.offers import repository as repo
from service.offers.catalog import aware
from service.offers.repository import OfferFilter
from service.offers.service import visible_offers, visible_to_member
from service.tables import Location, MemberOfferState, Merchant, Offer, OfferLocation
from service.web.app.offer_terms import card_texts
from service.web.i18n import N_, Formatter

FEED_PAGE_OFFERS = 30  # offers to activate per page; "Show more offers" reads the next
EXPIRING_SHOWN = 10  # the soonest to end, above the rest
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
    more_after: int | None = None  # the cursor of the next page of available offers

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


def _steps(offer: Offer, state: MemberOfferState | None) -> tuple[int, int] | None:
    """(done, goal) of a stamp card or a spend goal; None for offers without one."""
    if offer.kind == "stamp_card" and offer.stamp_every_n:
        return (state.stamp_count if state else 0) % offer.stamp_every_n, offer.stamp_every_n
    if offer.kind == "spend_threshold" and offer.threshold_amount:
        goal = offer.threshold_amount
        if state is not None and state.threshold_paid:
            return goal, goal
        return min(state.threshold_spend_amount if state else 0, goal), goal
    return None


def _near_goal(offer: Offer, state: MemberOfferState | None) -> bool:
    steps = _steps(offer, state)
    return steps is not None and 0 < steps[0] < steps[1]


def _progress(offer: Offer, state: MemberOfferState | None, fmt: Formatter) -> Progress | None:
    steps = _steps(offer, state)
    if steps is None:
        return None
    done, goal = steps
    if offer.kind == "stamp_card":
        return Progress(done, goal, fmt.gettext("%(done)s of %(n)s visits", done=done, n=goal))
    if state is not None and state.threshold_paid:  # steps are then (goal, goal)
        return Progress(goal, goal, fmt.gettext("Goal reached"))
    label = fmt.gettext(
        "%(spent)s of %(goal)s",
        spent=fmt.money(done, offer.currency),
        goal=fmt.money(goal, offer.currency),
    )
    return Progress(done, goal, label)


def offer_cards(
    session: Session,
    member_id: int,
    offers: list[Offer],
    activated: set[int],
    fmt: Formatter,
    *,
    now: datetime,
    progress: dict[int, MemberOfferState] | None = None,
) -> list[OfferCard]:
    """Cards for `offers`; `progress` is the member's counters when the caller has them."""
    if not offers:
        return []
    merchants = {
        m.id: m
        for m in session.exec(
            select(Merchant).where(col(Merchant.id).in_(sorted({o.merchant_id for o in offers})))
        )
    }
    states = progress if progress is not None else _states(session, member_id, offers)
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


def _states(session: Session, member_id: int, offers: list[Offer]) -> dict[int, MemberOfferState]:
    query = select(MemberOfferState).where(
        MemberOfferState.member_id == member_id,
        col(MemberOfferState.offer_id).in_([o.id for o in offers]),
    )
    return {s.offer_id: s for s in session.exec(query)}


def _visible(member_id: int, offers: list[Offer], hidden: set[int]) -> list[Offer]:
    return [o for o in offers if o.id not in hidden and visible_to_member(o, member_id)]


def build_feed(
    session: Session,
    member_id: int,
    fmt: Formatter,
    *,
    now: datetime,
    category: str | None = None,
    search: str | None = None,
    after_id: int = 0,
) -> Feed:
    """The member's own offers first, wherever they sit among the thousands open: those near a
    goal, the soonest to end, the activated ones; then a page of the rest by id. A later
    page (`after_id`, the cursor the one before gave) holds only more of the rest."""
    within = OfferFilter(category=category, search=(search or "").strip() or None)
    activated = repo.member_activated_offer_ids(session, member_id)
    progress = repo.member_progress(session, member_id)
    own = _visible(
        member_id,
        repo.open_offers_of(session, activated | set(progress), now=now, within=within),
        set(),
    )
    near_goal = [o for o in own if _near_goal(o, progress.get(o.id or 0))]
    near_goal_ids = {o.id for o in near_goal if o.id}
    soonest = repo.open_offers_ending(
        session, now=now, before=now + EXPIRING_WITHIN, limit=EXPIRING_SHOWN, within=within
    )
    ending = _visible(member_id, soonest, near_goal_ids)
    ending_ids = {o.id for o in ending if o.id}
    # On every page, so that no card shows twice: an offer ending later, or a goal met but
    # not activated, waits in the rest by id.
    shown_above = near_goal_ids | ending_ids | activated
    rest, more_after = visible_offers(
        session,
        member_id,
        now=now,
        after_id=after_id,
        limit=FEED_PAGE_OFFERS,
        within=within,
        hidden=frozenset(shown_above),
    )
    first_page = [] if after_id else [*ending, *own]  # near_goal is among own
    offers = list({o.id: o for o in [*first_page, *rest]}.values())
    cards = {
        card.id: card
        for card in offer_cards(
            session, member_id, offers, activated, fmt, now=now, progress=progress
        )
    }
    feed = Feed(available=[cards[o.id] for o in rest if o.id], more_after=more_after)
    if not after_id:
        feed.near_goal = [cards[i] for i in sorted(near_goal_ids)]
        feed.expiring = [cards[o.id] for o in ending if o.id]
        feed.activated = [
            cards[o.id]
            for o in own
            if o.id in activated and o.id not in near_goal_ids and o.id not in ending_ids
        ]
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
