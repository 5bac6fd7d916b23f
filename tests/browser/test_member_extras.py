"""(d) sign in with a passkey (Chromium's virtual authenticator) and (e) the app in Norsk
bokmål, picked first by the browser's Accept-Language, then by the member."""

from __future__ import annotations

from datetime import UTC, datetime

from playwright.sync_api import expect
from sqlmodel import Session, select

from service.linking_tables import PlaidItem
from service.plaid.client import plaid_client
from service.plaid.sync import sync_item
from service.web.tables import MemberLogin
from tests.browser.harness import Shots, assert_accessible, phone_context

PASSWORD = "correct horse battery"


def test_d_add_a_passkey_and_sign_in_with_it(live, phone) -> None:
    shots = Shots(live.label, "d-passkey")
    page = phone.new_page()
    cdp = phone.new_cdp_session(page)
    cdp.send("WebAuthn.enable")
    cdp.send(
        "WebAuthn.addVirtualAuthenticator",
        {
            "options": {
                "protocol": "ctap2",
                "transport": "internal",
                "hasResidentKey": True,
                "hasUserVerification": True,
                "isUserVerified": True,
                "automaticPresenceSimulation": True,
            }
        },
    )
    page.goto(f"{live.url}/app/sign-up")
    page.get_by_label("Email").fill("pia@example.com")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Create account").click()
    page.wait_for_url("**/app/cards?welcome=1")

    page.goto(f"{live.url}/app/account")
    page.get_by_role("button", name="Add a passkey").click()
    expect(page.get_by_role("status")).to_contain_text("Passkey added")
    assert_accessible(page)
    shots(page, "passkey added")
    page.get_by_role("button", name="Sign out", exact=True).click()
    expect(page.get_by_role("status")).to_contain_text("signed out")

    page.get_by_role("button", name="Sign in with a passkey").click()
    page.wait_for_url("**/app/offers")
    expect(page.get_by_role("navigation", name="Main")).to_be_visible()
    shots(page, "signed in with passkey")
    cookies = {c["name"]: c for c in phone.cookies()}
    assert cookies["clo_app_session"]["httpOnly"]


def test_e_the_app_in_norwegian(live, chromium) -> None:
    shots = Shots(live.label, "e-language")
    context = phone_context(chromium, locale="nb-NO")
    try:
        page = context.new_page()
        page.goto(f"{live.url}/app/sign-up")
        expect(page.get_by_role("heading", name="Opprett en konto")).to_be_visible()
        assert page.locator("html").get_attribute("lang") == "nb"
        page.get_by_label("E-post").fill("ola@example.com")
        page.get_by_label("Passord").fill("kort")
        page.get_by_role("button", name="Opprett konto").click()
        expect(page.locator("#f-password-error")).to_have_text("Bruk minst 10 tegn.")
        assert_accessible(page)
        shots(page, "sign up errors in norwegian")
        page.get_by_label("Passord").fill(PASSWORD)
        page.get_by_role("button", name="Opprett konto").click()
        expect(page.get_by_role("status")).to_contain_text("Velkommen!")
        page.goto(f"{live.url}/app/wallet")
        expect(page.get_by_role("heading", name="Lommebok")).to_be_visible()
        shots(page, "wallet in norwegian")

        page.goto(f"{live.url}/app/account")
        page.get_by_label("Språk").select_option("en")
        page.get_by_role("button", name="Bytt").click()
        expect(page.get_by_role("heading", name="Account")).to_be_visible()
        shots(page, "switched to english")
    finally:
        context.close()


def test_link_a_bank_waits_for_plaid_and_says_so_when_it_cannot_load(live, phone) -> None:
    """The button comes disabled and is enabled once Plaid's script has loaded (a tap before
    that did nothing); when the script cannot load, the page says so and the button stays
    off."""
    shots = Shots(live.label, "f-plaid-offline")
    page = phone.new_page()
    page.route("**/link-initialize.js", lambda route: route.abort())
    page.goto(f"{live.url}/app/sign-up")
    page.get_by_label("Email").fill("offline@example.com")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Create account").click()
    page.goto(f"{live.url}/app/cards")
    expect(page.get_by_role("alert")).to_contain_text("Bank linking did not load")
    expect(page.get_by_role("button", name="Link a bank")).to_be_disabled()
    shots(page, "bank linking did not load")
    page.close()


def test_a_bank_link_whose_sign_in_expired_is_repaired_with_link_in_update_mode(
    live, phone
) -> None:
    shots = Shots(live.label, "f-relink")
    page = phone.new_page()
    page.goto(f"{live.url}/app/sign-up")
    page.get_by_label("Email").fill("rik@example.com")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Create account").click()
    page.get_by_role("button", name="Link a bank").click()
    page.get_by_role("dialog").get_by_role("button", name="Continue").click()
    expect(page.get_by_role("status")).to_contain_text("Your bank is linked")

    with Session(live.engine) as session:
        member_id = session.exec(
            select(MemberLogin.member_id).where(MemberLogin.email == "rik@example.com")
        ).one()
        item = session.exec(select(PlaidItem).where(PlaidItem.member_id == member_id)).one()
    assert item.id is not None
    live.plaid.state.require_login(live.plaid.state.resolve(item.item_ref))
    result = sync_item(
        live.engine, plaid_client(live.settings), item.id, datetime.now(UTC), settings=live.settings
    )
    assert result.status == "relink_required"

    page.reload()
    expect(page.get_by_text("Sign-in expired")).to_be_visible()
    shots(page, "sign-in expired", show=page.get_by_text("Sign-in expired"))
    page.get_by_role("button", name="Link again").click()
    page.get_by_role("dialog").get_by_role("button", name="Continue").click()
    expect(page.get_by_role("status")).to_contain_text("Your bank link works again")
    expect(page.get_by_text("Working")).to_be_visible()
    assert_accessible(page)
    shots(page, "bank link repaired")


def test_the_installed_app_shows_its_offline_page_without_a_network(live, phone) -> None:
    shots = Shots(live.label, "g-offline")
    page = phone.new_page()
    page.goto(f"{live.url}/app/sign-in")
    manifest = page.request.get(f"{live.url}/app/manifest.webmanifest").json()
    assert manifest["start_url"] == "/app" and manifest["display"] == "standalone"
    page.evaluate("() => navigator.serviceWorker.ready.then(() => true)")
    phone.set_offline(True)
    try:
        page.goto(f"{live.url}/app/wallet")
        expect(page.get_by_role("heading", name="You are offline")).to_be_visible()
        shots(page, "offline page")
    finally:
        phone.set_offline(False)
