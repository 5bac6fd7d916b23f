"""(h) A member among many offers: the first page holds a page of them, "Show more offers"
adds the next in place (and the link is gone at the end), an offer found there activates in
place, and a search reaches offers the first page never showed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from playwright.sync_api import expect

from service.web.app.offer_feed import FEED_PAGE_OFFERS
from tests.browser.harness import Shots, assert_accessible
from tests.browser.world import admin_api, sign_up
from tests.service.api_client import iso

OFFERS = FEED_PAGE_OFFERS + 12


def _many_offers(live) -> list[int]:
    """A bakery with OFFERS live offers, through the API as a merchant sets them up."""
    with admin_api(live) as post:
        merchant = post(
            "/v1/merchants",
            {
                "brand_name": "Rye Bakery",
                "billing_email": "ap@rye.example",
                "timezone": "America/New_York",
                "currency": "USD",
                "category": "groceries",
            },
        )
        post(f"/v1/merchants/{merchant['id']}/locations", {"name": "Rye Main St", "mid": "MID-R-1"})
        ids = []
        for n in range(1, OFFERS + 1):
            offer = post(
                f"/v1/merchants/{merchant['id']}/offers",
                {
                    "title": f"Loaf {n}",
                    "reward_type": "percent",
                    "rate_bps": 100 + n,
                    "activation_required": True,
                    "starts_at": iso(datetime.now(UTC) - timedelta(days=1)),
                },
            )
            post(f"/v1/offers/{offer['id']}/publish")
            ids.append(offer["id"])
    return ids


def test_h_show_more_offers_in_place(live, phone) -> None:
    ids = _many_offers(live)
    shots = Shots(live.label, "h-more-offers")
    page = phone.new_page()
    sign_up(page, live, "hal@example.com", "Hal")

    page.goto(f"{live.url}/app/offers")
    offers = page.locator("article.offer")
    expect(offers).to_have_count(FEED_PAGE_OFFERS)
    more = page.get_by_role("link", name="Show more offers")
    assert_accessible(page)
    shots(page, "a page of offers and a link to more", show=more)

    more.click()
    expect(offers).to_have_count(OFFERS)
    expect(more).to_have_count(0)  # the last page: no link
    assert "/app/offers" in page.url and "after=" not in page.url  # added in place
    last = page.locator(f"#offer-{ids[-1]}")
    last.get_by_role("button", name="Activate").click()
    expect(last).to_contain_text("Activated")
    assert_accessible(page)
    shots(page, "more offers added, the last one activated", show=last)

    page.get_by_label("Search offers").fill(f"Loaf {OFFERS - 1}")
    expect(offers).to_have_count(1)
    expect(page.locator(f"#offer-{ids[-2]}")).to_be_visible()
    page.get_by_label("Search offers").fill("")
    expect(page.locator("#h-activated")).to_be_visible()  # the activated one now leads
    expect(page.locator(f"#offer-{ids[-1]}")).to_contain_text("Activated")
    shots(page, "the activated offer leads the first page", show=page.locator("#h-activated"))
