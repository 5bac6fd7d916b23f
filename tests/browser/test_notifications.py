"""(f) Notifications in the app: the unread count in the top bar, the list, marking read;
and the service worker showing a Web Push message (delivered through Chromium's DevTools
protocol, as a push service would hand it to the browser; the encryption and VAPID side is
tested against the push service stand-in in tests/service/notifications/test_push.py)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from playwright.sync_api import expect
from sqlmodel import Session, select

from service.notifications.messages import Kind
from service.notifications.notifier import NewNotification, record_notifications
from service.notifications.push import generate_vapid_keys
from service.web.tables import MemberLogin
from tests.browser.harness import LiveApp, Shots, assert_accessible

PASSWORD = "correct horse battery"


@pytest.fixture
def push_keys(live: LiveApp) -> Iterator[str]:
    """The live app with a VAPID key pair for this test (the same settings object it reads)."""
    before = (live.settings.vapid_private_key, live.settings.vapid_public_key)
    private, public = generate_vapid_keys()
    live.settings.vapid_private_key, live.settings.vapid_public_key = private, public
    yield public
    live.settings.vapid_private_key, live.settings.vapid_public_key = before


def tell(live: LiveApp, email: str) -> None:
    with Session(live.engine) as session:
        login = session.exec(select(MemberLogin).where(MemberLogin.email == email)).one()
        member_id = login.member_id
    now = datetime.now(UTC)
    with live.engine.begin() as conn:
        record_notifications(
            conn,
            [
                NewNotification(
                    member_id=member_id, kind=Kind.CASHBACK_EARNED, source_key="reward:1:earned",
                    created_at=now, reward_id=1, amount_minor=200, currency="USD",
                    facts={"merchant": "Blue Bottle"},
                )
            ],
            now,
        )  # fmt: skip


def test_f_notifications_unread_count_mark_read_and_a_push(live, phone, push_keys) -> None:
    shots = Shots(live.label, "f-notifications")
    phone.grant_permissions(["notifications"], origin=live.url)
    page = phone.new_page()
    cdp = phone.new_cdp_session(page)
    registrations: list[dict] = []
    cdp.on(
        "ServiceWorker.workerRegistrationUpdated",
        lambda e: registrations.extend(e["registrations"]),
    )
    cdp.send("ServiceWorker.enable")

    page.goto(f"{live.url}/app/sign-up")
    page.get_by_label("Email").fill("nora@example.com")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Create account").click()
    page.wait_for_url("**/app/cards?welcome=1")
    tell(live, "nora@example.com")

    page.goto(f"{live.url}/app/offers")
    expect(page.locator(".topbar-unread")).to_have_text("1")
    page.locator(".topbar-bell").click()
    page.wait_for_url("**/app/notifications")
    expect(page.get_by_role("heading", name="1 unread")).to_be_visible()
    expect(page.get_by_role("link", name="You earned $2.00 at Blue Bottle")).to_be_visible()
    expect(
        page.get_by_role("button", name="Turn on push notifications on this device")
    ).to_be_visible()
    assert_accessible(page)
    shots(page, "one unread")
    page.get_by_role("button", name="Mark all read").click()
    expect(page.get_by_role("heading", name="All read")).to_be_visible()
    expect(page.locator(".topbar-unread")).to_have_text("")
    shots(page, "all read")

    # A push, as the push service hands it to the browser: the service worker shows it.
    scope = page.evaluate("navigator.serviceWorker.ready.then((r) => r.scope)")
    page.wait_for_timeout(200)
    registration = next(r for r in registrations if r["scopeURL"] == scope)
    message = {"title": "You earned $2.00 at Blue Bottle", "body": "It becomes available soon.",
               "url": "/app/activity"}  # fmt: skip
    cdp.send(
        "ServiceWorker.deliverPushMessage",
        {"origin": live.url, "registrationId": registration["registrationId"],
         "data": json.dumps(message)},
    )  # fmt: skip
    shown = page.evaluate(
        """async () => {
            const registration = await navigator.serviceWorker.ready;
            for (let i = 0; i < 200; i++) {  // up to 20 s on a busy machine
                const found = await registration.getNotifications();
                if (found.length) return found.map((n) => [n.title, n.body, n.data.url]);
                await new Promise((resolve) => setTimeout(resolve, 100));
            }
            return [];
        }"""
    )
    assert shown == [[message["title"], message["body"], "/app/activity"]]
