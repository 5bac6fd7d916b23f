"""The member journeys at a phone viewport, on SQLite and PostgreSQL:
(a) sign up, link a card with Stripe's form and a bank with Plaid Link, activate an offer;
    a signed network event arrives and the wallet shows the pending cashback at once, the
    activity its offer;
(b) a purchase that earns nothing says why, in plain words;
(c) maturation makes it available, the member turns on payouts, the weekly run pays them
    and they see the payout; a donation submitted twice is one donation.
Screenshots of every step go to tests/browser/screenshots/<database>/<journey>/."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from playwright.sync_api import Page, expect

from settlement.maturation import run_maturation
from tests.browser.harness import Shots, assert_accessible
from tests.browser.world import (
    HOLD_DAYS,
    build_world,
    card_id_of,
    donations_of,
    push_event,
    settle_now,
    sign_up,
)


@pytest.fixture(scope="module")
def world(live):
    return build_world(live)


def link_test_card(page: Page, number: str = "4242 4242 4242 4242") -> None:
    page.get_by_label("Card number").fill(number)
    page.get_by_label("Expiry (MM/YY)").fill("12 / 34")
    page.get_by_label("CVC").fill("123")
    page.get_by_role("button", name="Save card").click()


def test_a_sign_up_link_activate_and_see_cashback_pending(live, world, phone) -> None:
    shots = Shots(live.label, "a-earn")
    page = phone.new_page()
    sign_up(page, live, "ada@example.com")
    expect(page.get_by_role("status")).to_contain_text("Link a card")
    assert_accessible(page)
    shots(page, "signed up, cards page")

    link_test_card(page, "4000 0000 0000 0002")  # Stripe's declined test card
    expect(page.locator("#card-error")).to_contain_text("declined")
    shots(page, "declined card", show=page.locator("#card-error"))
    page.get_by_label("Card number").fill("4242 4242 4242 4242")
    page.get_by_role("button", name="Save card").click()
    expect(page.get_by_role("status")).to_contain_text("Card ending 4242 is linked")
    expect(page.get_by_text("Visa •••• 4242")).to_be_visible()
    shots(page, "card linked")

    page.get_by_role("button", name="Link a bank").click()
    dialog = page.get_by_role("dialog", name="Link your bank")
    dialog.get_by_label("First Gingham Credit Union").check()
    shots(page, "plaid link open")
    dialog.get_by_role("button", name="Continue").click()
    expect(page.get_by_role("status")).to_contain_text("Your bank is linked")
    expect(page.get_by_text("Bank card •••• 3333")).to_be_visible()
    assert_accessible(page)
    shots(page, "bank linked", show=page.get_by_text("Bank card •••• 3333"))

    page.get_by_role("link", name="Offers").click()
    offer = page.locator(f"#offer-{world.activation_offer_id}")
    expect(offer).to_contain_text("5% back on $10.00 or more, up to $20.00")
    expect(offer).to_contain_text("Blue Bottle Soho, Blue Bottle Chelsea")
    stamp = page.locator(f"#offer-{world.stamp_offer_id}")
    expect(stamp).to_contain_text("$5.00 back on every 5th visit")
    assert_accessible(page)
    shots(page, "offers")
    page.get_by_label("Search offers").fill("corner")  # htmx: results update in place
    expect(offer).to_have_count(0)
    expect(stamp).to_be_visible()
    page.get_by_label("Search offers").fill("")
    page.get_by_label("Category").select_option("dining")
    expect(stamp).to_have_count(0)
    expect(offer).to_be_visible()
    offer.get_by_role("button", name="Activate").click()
    expect(page.locator(f"#offer-{world.activation_offer_id}")).to_contain_text("Activated")
    assert "/app/offers" in page.url  # updated in place
    shots(page, "offer activated", show=page.locator(f"#offer-{world.activation_offer_id}"))

    card_id = card_id_of(live, "ada@example.com", "4242")
    result = push_event(live, external_id="a-auth-1", kind="auth", card_id=card_id, amount=12_000)
    assert result["outcome"] == "rewarded", result

    page.get_by_role("link", name="Wallet").click()
    expect(page.locator("[data-balance=pending]")).to_have_text("$6.00")
    expect(page.locator("[data-balance=available]")).to_have_text("$0.00")
    assert_accessible(page)
    shots(page, "wallet pending")

    page.get_by_role("link", name="Activity").click()
    event = page.locator("li.event").first
    expect(event).to_contain_text("Blue Bottle")
    expect(event).to_contain_text("$120.00")
    expect(event).to_contain_text("$6.00 cashback, pending until the purchase clears")
    assert_accessible(page)
    shots(page, "activity pending")
    event.get_by_role("link", name="Blue Bottle").click()
    expect(page.get_by_text("Coffee week")).to_be_visible()
    expect(page.get_by_text("You earned cashback on this purchase.").first).to_be_visible()
    shots(page, "event explained")

    page.goto(f"{live.url}/app/cards")
    page.get_by_role("link", name="Unlink card ending 3333").click()
    shots(page, "unlink asks first")
    page.get_by_role("button", name="Unlink card").click()
    expect(page.get_by_role("status")).to_contain_text("Card ending 3333 is unlinked")
    expect(page.get_by_text("Bank card •••• 3333")).to_have_count(0)


def test_b_a_purchase_that_earns_nothing_says_why(live, world, phone) -> None:
    shots = Shots(live.label, "b-reason")
    page = phone.new_page()
    sign_up(page, live, "bo@example.com", "Bo")
    link_test_card(page, "5555 5555 5555 4444")
    expect(page.get_by_role("status")).to_contain_text("Card ending 4444 is linked")
    page.goto(f"{live.url}/app/offers")
    page.locator(f"#offer-{world.activation_offer_id}").get_by_role(
        "button", name="Activate"
    ).click()
    expect(page.locator(f"#offer-{world.activation_offer_id}")).to_contain_text("Activated")

    card_id = card_id_of(live, "bo@example.com", "4444")
    push_event(live, external_id="b-auth-1", kind="auth", card_id=card_id, amount=450)
    page.goto(f"{live.url}/app/activity")
    expect(page.locator("li.event").first).to_contain_text(
        "\u201cCoffee week\u201d pays on $10.00 or more; this purchase was $4.50."
    )
    assert_accessible(page)
    shots(page, "activity with reason")
    page.locator("li.event").first.get_by_role("link", name="Blue Bottle").click()
    expect(
        page.get_by_text("The purchase was below the offer's minimum spend.").first
    ).to_be_visible()
    assert_accessible(page)
    shots(page, "the event's offers and reasons")


def test_c_maturation_payout_and_one_donation(live, world, phone) -> None:
    shots = Shots(live.label, "c-cash-out")
    page = phone.new_page()
    sign_up(page, live, "cy@example.com", "Cy")
    link_test_card(page, "3714 496353 98431")
    expect(page.get_by_role("status")).to_contain_text("Card ending 8431 is linked")
    page.goto(f"{live.url}/app/offers")
    page.locator(f"#offer-{world.activation_offer_id}").get_by_role(
        "button", name="Activate"
    ).click()
    expect(page.locator(f"#offer-{world.activation_offer_id}")).to_contain_text("Activated")
    card_id = card_id_of(live, "cy@example.com", "8431")
    push_event(live, external_id="c-auth-1", kind="auth", card_id=card_id, amount=20_000)
    push_event(
        live,
        external_id="c-clear-1",
        kind="clearing",
        card_id=card_id,
        amount=22_000,  # a tip: the cleared amount is higher, and so is the cashback
        original_external_id="c-auth-1",
    )
    page.goto(f"{live.url}/app/wallet")
    expect(page.locator("[data-balance=pending]")).to_have_text("$11.00")
    shots(page, "wallet pending after clearing")

    run_maturation(live.engine, datetime.now(UTC) + timedelta(days=HOLD_DAYS + 1))
    page.reload()
    expect(page.locator("[data-balance=available]")).to_have_text("$11.00")
    expect(page.locator("[data-balance=pending]")).to_have_text("$0.00")
    shots(page, "wallet available after maturation")
    form = page.locator("form[action='/app/wallet/donations']")
    fields = {
        name: form.locator(f"input[name={name}]").input_value()
        for name in ("csrf_token", "form_token", "currency")
    }
    form.get_by_label("Amount").fill("1.00")
    form.get_by_role("button", name="Donate").click()
    expect(page.get_by_role("status")).to_contain_text("Thank you")
    twin = page.request.post(
        f"{live.url}/app/wallet/donations",
        form={**fields, "charity_id": str(world.charity_id), "amount": "1.00"},
        max_redirects=0,
    )
    assert twin.status == 303 and "donated=" in twin.headers["location"]  # the first result
    page.reload()
    expect(page.locator("[data-balance=available]")).to_have_text("$10.00")
    assert donations_of(live, "cy@example.com") == 1
    shots(page, "donated once", show=page.locator("#h-moves"))

    page.get_by_role("button", name="Set up payouts").click()
    expect(page.get_by_role("status")).to_contain_text("Payouts are on")
    shots(page, "payouts on")

    settle_now(live, datetime.now(UTC) + timedelta(days=HOLD_DAYS + 1))
    page.goto(f"{live.url}/app/activity")
    moves = page.locator("#h-moves + ul")
    expect(moves).to_contain_text("Payout to your bank")
    expect(moves).to_contain_text("Paid")
    expect(moves).to_contain_text("$10.00")
    expect(moves).to_contain_text("Donation to City Food Bank")
    expect(page.locator("li.event").first).to_contain_text("$11.00 cashback, paid out")
    expect(page.locator("li.event").nth(1)).to_contain_text("shown with the final amount")
    assert_accessible(page)
    shots(page, "activity paid out")
