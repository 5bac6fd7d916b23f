"""The merchant portal and the finance console in Chromium, on SQLite and PostgreSQL.

A merchant owner adds locations by CSV (one bad line first), creates an offer with a day
part and a minimum spend, watches the preview change with the amount and publishes it;
card events arrive; the performance chart shows them. Finance opens the week's run waiting
for approval: a reviewer cannot approve, an approver can; invoices appear and the statement
reconciles to a zero difference. axe-core checks every page; screenshots are saved at a
desktop size (and the offer form at a tablet size) under tests/browser/screenshots/.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import httpx
import pytest
from playwright.sync_api import Page, expect

from service.auth import Role
from service.integrations.stripe_billing import StripeBilling, StripePayouts
from settlement.runs.periods import week_of
from settlement.runs.ports import Ports
from settlement.runs.runner import RunSettings, SettlementRunner
from tests.browser.harness import Shots, assert_accessible
from tests.browser.world import push_event
from tests.service.api_client import bearer, card_body, issue_key
from tests.service.web.staff_world import PASSWORD, add_finance_user, add_merchant

DESKTOP = {"width": 1366, "height": 900}
TABLET = {"width": 820, "height": 1180}
ZONE = ZoneInfo("America/New_York")
LOCATIONS_BAD = "name,mid,postal_code,country\nSoho,MID-P-1,10012,US\nChelsea,MID-P-1,10011,US\n"
LOCATIONS_GOOD = "name,mid,postal_code,country\nSoho,MID-P-1,10012,US\nChelsea,MID-P-2,10011,US\n"


@pytest.fixture(scope="module")
def staff_world(live):
    tenant = add_merchant(live.engine, name="Portal Coffee", mid="MID-P-0")
    add_finance_user(live.engine, "reviewer@finance.example", "reviewer")
    add_finance_user(live.engine, "approver@finance.example", "approver")
    publisher = bearer(issue_key(live.engine, role=Role.PUBLISHER))
    with httpx.Client(base_url=live.url, headers=publisher) as api:
        member = api.post("/v1/members", json={"display_name": "Ada"}).json()["member"]
        card = api.post(
            f"/v1/members/{member['id']}/cards",
            json=card_body(provider_token="tok_p", fingerprint="fp_p"),
        ).json()
    return tenant, card["id"]


def desktop(chromium, viewport=DESKTOP):
    context = chromium.new_context(viewport=viewport)
    context.set_default_timeout(10_000)
    return context


def sign_in(page: Page, url: str, side: str, email: str) -> None:
    page.goto(f"{url}/{side}/sign-in")
    page.get_by_label("Work email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()


def upload(page: Page, tmp_path, name: str, text: str) -> None:
    path = tmp_path / name
    path.write_text(text)
    page.get_by_label("CSV file").set_input_files(str(path))
    page.get_by_role("button", name="Upload").click()


def settle_week(live, at: datetime) -> None:
    """The scheduler's weekly run: it stops at approval (any total needs a person)."""
    client = live.stripe.client(max_network_retries=0)
    runner = SettlementRunner(
        live.engine,
        Ports(StripeBilling(live.engine, client), StripePayouts(live.engine, client)),
        RunSettings(auto_approve_below_amount=1, payout_minimum_amount=100),
    )
    assert runner.settle(week_of(at), at).status == "awaiting_approval"


def test_merchant_and_finance_journeys(live, staff_world, chromium, tmp_path) -> None:
    tenant, card_id = staff_world
    shots = Shots(live.label, "staff")
    context = desktop(chromium)
    page = context.new_page()

    sign_in(page, live.url, "merchant", tenant.owner)
    expect(page.get_by_role("heading", name="Offers")).to_be_visible()
    assert_accessible(page)
    shots(page, "merchant offers empty")

    page.get_by_role("link", name="Locations").click()
    upload(page, tmp_path, "bad.csv", LOCATIONS_BAD)
    errors = page.locator("#import-errors")
    expect(errors).to_contain_text("Nothing was imported")
    expect(errors).to_contain_text("MID MID-P-1 is also on line 2")
    expect(page.get_by_role("cell", name="MID-P-1")).to_have_count(1)  # only the error table
    assert_accessible(page)
    shots(page, "locations csv one bad line")
    upload(page, tmp_path, "good.csv", LOCATIONS_GOOD)
    expect(page.get_by_role("status")).to_contain_text("2 locations imported")
    shots(page, "locations imported")

    now_local = datetime.now(UTC).astimezone(ZONE)
    start_hour, end_hour = max(now_local.hour - 1, 0), min(now_local.hour + 2, 24)
    page.get_by_role("link", name="Offers").click()
    page.get_by_role("link", name="New offer").click()
    page.get_by_label("Title").fill("Morning coffee")
    page.get_by_label("Cashback rate (%)").fill("5")
    page.get_by_label("Minimum spend").fill("10")
    for day in ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"):
        page.get_by_label(day, exact=True).check()
    page.get_by_label("From").fill(f"{start_hour:02d}:00")
    page.get_by_label("Until").fill(f"{end_hour % 24:02d}:00")
    page.get_by_label("Time", exact=True).fill(now_local.strftime("%Y-%m-%dT%H:%M"))
    preview = page.locator("#preview-result")
    page.get_by_label("Purchase amount").fill("25.00")
    # The preview loads with a sample of its own: wait until it shows the purchase filled in.
    expect(preview).to_contain_text(f"{now_local:%A} {now_local.day} {now_local:%b %Y, %H:%M}")
    expect(preview).to_contain_text("Earns $1.25")
    expect(preview).to_contain_text("5% back on $10.00 or more")
    assert_accessible(page)
    shots(page, "offer form preview earns")
    page.get_by_label("Purchase amount").fill("8.00")
    expect(preview).to_contain_text("Earns nothing")
    expect(preview).to_contain_text("below the minimum spend")
    shots(page, "offer form preview below minimum")
    tablet = desktop(chromium, TABLET).new_page()
    sign_in(tablet, live.url, "merchant", tenant.analyst)
    tablet.goto(f"{live.url}/merchant/offers/new")  # analysts may not create offers
    expect(tablet.get_by_role("heading", name="Forbidden")).to_be_visible()
    tablet.context.close()

    page.get_by_role("button", name="Save draft").click()
    expect(page.get_by_role("status").first).to_contain_text("Offer saved as a draft")
    page.get_by_role("button", name="Publish").click()
    expect(page.locator("h1 .badge")).to_have_text("live")
    assert_accessible(page)
    shots(page, "offer published")
    offer_id = page.url.rsplit("/", 1)[1].split("?")[0]

    at = datetime.now(UTC)
    for n, amount in enumerate((4_000, 2_500)):
        result = push_event(
            live, external_id=f"p-{n}", kind="auth", card_id=card_id, amount=amount,
            mid="MID-P-2", occurred_at=at.isoformat(),
        )  # fmt: skip
        assert result["outcome"] == "rewarded", result
        cleared = push_event(
            live, external_id=f"p-{n}-c", kind="clearing", card_id=card_id, amount=amount,
            mid="MID-P-2", original_external_id=f"p-{n}",
        )  # fmt: skip
        assert cleared["outcome"] in ("rewarded", "linked"), cleared
    page.goto(f"{live.url}/merchant/performance/{offer_id}")
    expect(page.locator("[data-kpi=qualified]")).to_have_text("2")
    expect(page.locator("[data-kpi=spend]")).to_have_text("$65.00")
    expect(page.locator("canvas[data-chart=timeline]")).to_have_attribute("data-drawn", "yes")
    data = page.request.get(f"{live.url}/merchant/performance/{offer_id}/data.json").json()
    assert sum(d["spend_amount"] for d in data["days"]) == 6_500
    assert_accessible(page)
    shots(page, "performance with events")
    tablet = desktop(chromium, TABLET).new_page()
    sign_in(tablet, live.url, "merchant", tenant.owner)
    tablet.goto(f"{live.url}/merchant/offers/{offer_id}")
    assert_accessible(tablet)
    shots(tablet, "tablet offer form")
    tablet.goto(f"{live.url}/merchant/performance/{offer_id}")
    expect(tablet.locator("canvas[data-chart=timeline]")).to_have_attribute("data-drawn", "yes")
    shots(tablet, "tablet performance")
    tablet.context.close()
    context.close()

    settle_week(live, at + timedelta(minutes=1))
    reviewer = desktop(chromium).new_page()
    sign_in(reviewer, live.url, "finance", "reviewer@finance.example")
    reviewer.get_by_role("link", name=week_of(at).label).click()
    expect(reviewer.locator("[data-run-status]")).to_have_text("awaiting approval")
    expect(reviewer.locator("[data-waiting]")).to_contain_text("approver")
    expect(
        reviewer.get_by_role("button", name="Approve: bill merchants and pay members")
    ).to_have_count(0)
    assert_accessible(reviewer)
    shots(reviewer, "finance run waiting reviewer")
    refused = reviewer.request.post(
        reviewer.url.split("?")[0] + "/approve",
        form={"csrf_token": reviewer.locator("body").get_attribute("data-csrf") or ""},
    )
    assert refused.status == 403
    reviewer.context.close()

    approver = desktop(chromium).new_page()
    sign_in(approver, live.url, "finance", "approver@finance.example")
    approver.get_by_role("link", name=week_of(at).label).click()
    approver.get_by_role("button", name="Approve: bill merchants and pay members").click()
    expect(approver.locator("[data-run-status]")).to_have_text("closed")
    expect(approver.locator("[data-invoices]")).to_contain_text("Portal Coffee")
    expect(approver.locator("[data-total-difference]")).to_have_attribute(
        "data-total-difference", "0"
    )
    expect(approver.locator("[data-audit]")).to_contain_text("approved by approver@finance.example")
    assert_accessible(approver)
    shots(approver, "finance run approved and billed")
    for path in ("/finance", "/finance/ledger", "/finance/attribution"):
        approver.goto(f"{live.url}{path}")
        assert_accessible(approver)
        if path.endswith("attribution"):
            expect(approver.locator("[data-counted-by]")).to_contain_text("booked in the ledger")
            expect(approver.locator("#report-h")).to_have_text(re.compile(r": 1 offer$"))
        shots(approver, f"finance {path.rsplit('/', 1)[1] or 'runs'}")
    approver.context.close()
