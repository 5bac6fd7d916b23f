"""Missing cashback in Chromium, on SQLite and PostgreSQL: a member pays, activates the offer a
minute later, sees the purchase earned nothing, claims it from the activity item with a photo
of the receipt; the merchant's owner opens the receipt and accepts; the member sees $6.00
pending (5% of $120.00). axe-core checks every page."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from playwright.sync_api import expect
from sqlmodel import Session

from service.web.staff.accounts import create_user
from tests.browser.harness import Shots, assert_accessible
from tests.browser.test_member_journeys import link_test_card, sign_up
from tests.browser.test_staff_journeys import desktop, sign_in
from tests.browser.world import build_world, card_id_of, push_event
from tests.service.web.staff_world import PASSWORD

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
OWNER = "owner@bluebottle.example"


@pytest.fixture(scope="module")
def world(live):
    found = build_world(live)
    with Session(live.engine) as session:
        create_user(
            session, email=OWNER, password=PASSWORD, side="merchant", role="owner",
            merchant_id=found.merchant_id, now=datetime.now(UTC),
        )  # fmt: skip
        session.commit()
    return found


def test_a_member_claims_and_the_merchant_accepts(live, world, phone, chromium) -> None:
    shots = Shots(live.label, "d-claim")
    page = phone.new_page()
    sign_up(page, live, "di@example.com", "Di")
    link_test_card(page)
    expect(page.get_by_role("status")).to_contain_text("Card ending 4242 is linked")
    card_id = card_id_of(live, "di@example.com", "4242")
    paid_at = datetime.now(UTC) - timedelta(minutes=1)
    push_event(
        live, external_id="d-clear-1", kind="clearing", card_id=card_id, amount=12_000,
        occurred_at=paid_at.isoformat(),
    )  # fmt: skip
    page.goto(f"{live.url}/app/offers")
    page.locator(f"#offer-{world.activation_offer_id}").get_by_role(
        "button", name="Activate"
    ).click()
    expect(page.locator(f"#offer-{world.activation_offer_id}")).to_contain_text("Activated")

    page.goto(f"{live.url}/app/activity")
    item = page.locator("li.event").first
    expect(item).to_contain_text("had not activated")
    item.get_by_role("link", name="Missing cashback?").click()
    expect(page.get_by_label("Amount paid")).to_have_value("120.00")
    expect(page.get_by_label("Merchant", exact=True)).to_have_value(str(world.merchant_id))
    assert_accessible(page)
    page.get_by_label("Receipt (optional)").set_input_files(
        {"name": "receipt.png", "mimeType": "image/png", "buffer": PNG}
    )
    shots(page, "claim form")
    page.get_by_role("button", name="Send the claim").click()
    expect(page.get_by_role("status")).to_contain_text("Your claim is sent")
    expect(page.locator("li.claim").first).to_contain_text("Waiting for the merchant")
    assert_accessible(page)
    shots(page, "claim sent")

    staff = desktop(chromium)
    desk = staff.new_page()
    sign_in(desk, live.url, "merchant", OWNER)
    desk.goto(f"{live.url}/merchant/claims")
    row = desk.locator("tr[data-claim]").first
    expect(row).to_contain_text("$120.00")
    assert_accessible(desk)
    shots(desk, "merchant queue")
    href = row.get_by_role("link", name="Open").get_attribute("href")
    assert desk.request.get(f"{live.url}{href}").body() == PNG  # the receipt, as sent
    row.get_by_role("button", name="Accept claim").click()
    expect(desk.get_by_role("status")).to_contain_text("Claim accepted")
    shots(desk, "accepted")
    staff.close()

    page.reload()
    expect(page.locator("li.claim").first).to_contain_text("$6.00 cashback, pending")
    page.goto(f"{live.url}/app/wallet")
    expect(page.locator("[data-balance=pending]")).to_have_text("$6.00")
    shots(page, "wallet after the claim")
