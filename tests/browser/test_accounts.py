"""Sign up, sign in and out in a real browser: field errors from problem documents, the
session cookie's flags, CSRF, the content security policy, axe-core on every page."""

from __future__ import annotations

from playwright.sync_api import expect

from tests.browser.harness import Shots, assert_accessible


def test_sign_up_shows_field_errors_then_signs_in_and_out(live, phone) -> None:
    shots = Shots(live.label, "accounts")
    page = phone.new_page()
    response = page.goto(f"{live.url}/app/offers")
    assert "/app/sign-in?next=/app/offers" in page.url
    csp = response.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert_accessible(page)
    shots(page, "sign in")

    page.get_by_role("link", name="Create an account").click()
    page.get_by_label("Email").fill("not-an-email")
    page.get_by_label("Password").fill("short")
    page.get_by_role("button", name="Create account").click()
    expect(page.locator("#f-email-error")).to_be_visible()
    expect(page.locator("#f-password-error")).to_contain_text("at least 10 characters")
    expect(page.get_by_label("Email")).to_have_value("not-an-email")  # what was typed is kept
    assert_accessible(page)
    shots(page, "sign up errors")

    page.get_by_label("Your name").fill("Ada")
    page.get_by_label("Email").fill("ada@example.com")
    page.get_by_label("Password").fill("correct horse battery")
    page.get_by_role("button", name="Create account").click()
    page.wait_for_url("**/app/cards**")
    session_cookie = next(c for c in phone.cookies() if c["name"] == "clo_app_session")
    assert session_cookie["httpOnly"] and session_cookie["sameSite"] == "Lax"
    assert session_cookie["path"] == "/app"

    page.goto(f"{live.url}/app/account")
    page.get_by_role("button", name="Sign out", exact=True).click()
    expect(page.get_by_role("status")).to_contain_text("signed out")
    page.goto(f"{live.url}/app/wallet")
    assert "/app/sign-in?next=/app/wallet" in page.url

    page.get_by_label("Email").fill("ada@example.com")
    page.get_by_label("Password").fill("wrong password!")
    page.get_by_role("button", name="Sign in", exact=True).click()
    expect(page.locator("#f-password-error")).to_contain_text("is not right")
    page.get_by_label("Password").fill("correct horse battery")
    page.get_by_role("button", name="Sign in", exact=True).click()
    page.wait_for_url("**/app/wallet")  # back to the page that was asked for
    assert_accessible(page)
