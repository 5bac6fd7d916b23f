"""The member's offer feed among hundreds of open offers, on SQLite and PostgreSQL: the
member's own offers (near a goal, activated) and the soonest to end lead the first page
wherever they sit in the catalogue; the rest comes a page at a time, every open offer the
member may see exactly once; category and search narrow every section in the database."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import Session

from service.app import create_app
from service.config import Settings
from service.tables import Activation, Member, MemberOfferState, Merchant, Offer
from service.web.app.offer_feed import FEED_PAGE_OFFERS, Feed, build_feed
from service.web.i18n import Formatter
from tests.service.web.test_member_app import browser, member_of, sign_up

NOW = datetime(2026, 11, 2, 12, tzinfo=UTC)
OFFERS = 340  # more than the 300 the feed once read: the member's own sit past them
CAFE, GROCER = 1, 2
STAMP_OFFER = 320  # 2 of 5 visits done
ACTIVATED_OFFER = 330
ENDING = {40: 6, 200: 2, 310: 1}  # offer id: days left, all within the week
ENDED_OFFER = 50  # its window closed yesterday
HELD_OUT_OFFER = 60  # the member is in its control group
PAUSED_OFFER = 70


def _offer(offer_id: int) -> dict:
    merchant_id = CAFE if offer_id % 2 else GROCER
    ends_at = NOW + timedelta(days=ENDING[offer_id]) if offer_id in ENDING else None
    if offer_id == ENDED_OFFER:
        ends_at = NOW - timedelta(days=1)
    return {
        "id": offer_id,
        "merchant_id": merchant_id,
        "title": f"Offer {offer_id}" + (" 100%" if offer_id == 99 else ""),
        "status": "paused" if offer_id == PAUSED_OFFER else "live",
        "kind": "stamp_card" if offer_id == STAMP_OFFER else "cashback",
        "stamp_every_n": 5 if offer_id == STAMP_OFFER else None,
        "reward_type": "percent",
        "currency": "USD",
        "rate_bps": 500,
        "starts_at": NOW - timedelta(days=30),
        "ends_at": ends_at,
        "activation_required": offer_id == ACTIVATED_OFFER,
        "holdout_bps": 10_000 if offer_id == HELD_OUT_OFFER else 0,
        "created_at": NOW - timedelta(days=30),
        "updated_at": NOW - timedelta(days=30),
    }


def _seed_catalogue(engine, member_id: int) -> None:
    with Session(engine) as session:
        for merchant_id, name, category in [
            (CAFE, "Café Uno", "dining"),
            (GROCER, "Green Grocer", "groceries"),
        ]:
            session.add(
                Merchant(
                    id=merchant_id,
                    brand_name=name,
                    timezone="America/New_York",
                    currency="USD",
                    category=category,
                    created_at=NOW,
                )
            )
        session.add_all([Offer(**_offer(i)) for i in range(1, OFFERS + 1)])
        session.flush()
        session.add(Activation(member_id=member_id, offer_id=ACTIVATED_OFFER, activated_at=NOW))
        session.add(MemberOfferState(member_id=member_id, offer_id=STAMP_OFFER, stamp_count=7))
        session.commit()


@pytest.fixture
def member_id(engine) -> int:
    with Session(engine) as session:
        member = Member(display_name="Ada", created_at=NOW)
        session.add(member)
        session.commit()
        assert member.id is not None
        found = member.id
    _seed_catalogue(engine, found)
    return found


def _feed(engine, member_id: int, **narrow) -> Feed:
    with Session(engine) as session:
        return build_feed(session, member_id, Formatter("en"), now=NOW, **narrow)


def _ids(cards) -> list[int]:
    return [card.id for card in cards]


def _every_page(engine, member_id: int, **narrow) -> list[int]:
    """Offer ids in the order the member meets them, first page and every 'Show more'."""
    first = _feed(engine, member_id, **narrow)
    seen = _ids(first.near_goal + first.expiring + first.activated + first.available)
    cursor = first.more_after
    while cursor is not None:
        page = _feed(engine, member_id, after_id=cursor, **narrow)
        assert not page.near_goal and not page.expiring and not page.activated
        assert len(page.available) <= FEED_PAGE_OFFERS
        seen += _ids(page.available)
        cursor = page.more_after
    return seen


def test_the_members_own_offers_lead_the_first_page_wherever_they_sit(engine, member_id):
    feed = _feed(engine, member_id)
    assert _ids(feed.near_goal) == [STAMP_OFFER]
    progress = feed.near_goal[0].progress
    assert progress is not None and (progress.value, progress.goal) == (2, 5)  # 7 visits, 5 a card
    assert _ids(feed.expiring) == [310, 200, 40]  # the soonest first
    assert _ids(feed.activated) == [ACTIVATED_OFFER]
    assert _ids(feed.available) == list(range(1, FEED_PAGE_OFFERS + 1))
    assert feed.more_after == feed.available[-1].id


def test_show_more_pages_through_every_open_offer_once(engine, member_id):
    seen = _every_page(engine, member_id)
    hidden = {ENDED_OFFER, HELD_OUT_OFFER, PAUSED_OFFER}
    assert len(seen) == len(set(seen))  # no card twice
    assert set(seen) == set(range(1, OFFERS + 1)) - hidden


def test_category_and_search_narrow_every_section(engine, member_id):
    groceries = _every_page(engine, member_id, category="groceries")
    assert groceries and all(i % 2 == 0 for i in groceries)
    assert STAMP_OFFER in groceries and 200 in groceries and 310 in groceries
    assert ACTIVATED_OFFER in groceries and len(groceries) == OFFERS // 2 - 3

    cafe = _every_page(engine, member_id, search="  café UNO ")  # case and spaces do not matter
    assert all(i % 2 == 1 for i in cafe) and len(cafe) == OFFERS // 2

    # The activated one on top, then the rest by id.
    assert _every_page(engine, member_id, search="offer 33") == [330, 33, *range(331, 340)]
    assert _every_page(engine, member_id, search="100%") == [99]  # % is a letter, not a wildcard
    assert _every_page(engine, member_id, search="100_") == []


def test_the_page_shows_more_offers_in_place_and_without_script(engine):
    app = create_app(engine=engine, settings=Settings(environment="test"))
    client = browser(app)
    sign_up(client, "ada@example.com")
    _seed_catalogue(engine, member_of(engine, "ada@example.com").id or 0)

    first = client.get("/app/offers")
    assert 'href="/app/offers?after=30"' in first.text
    more = client.get(
        "/app/offers?after=30", headers={"HX-Request": "true", "HX-Target": "more-offers"}
    )
    assert "<html" not in more.text and "<h2" not in more.text  # cards in place of the link
    assert 'id="offer-31"' in more.text and 'id="offer-30"' not in more.text
    assert re.search(r'href="/app/offers\?after=6\d"', more.text)  # the next page, and so on
    plain = client.get("/app/offers?after=30")  # no script: a page of the rest alone
    assert "<html" in plain.text and 'id="offer-31"' in plain.text
    assert "Near a goal" not in plain.text

    groceries = client.get("/app/offers?category=groceries&q=grocer").text
    assert re.search(
        r'href="/app/offers\?after=\d+&amp;category=groceries&amp;q=grocer"', groceries
    )
