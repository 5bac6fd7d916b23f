"""The notifications page of the member app and the unsubscribe link from emails."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from fastapi.testclient import TestClient
from sqlalchemy import select

from service.app import create_app
from service.notifications.messages import Kind
from service.notifications.notifier import NewNotification, record_notifications
from service.notifications.tables import Notification, NotificationPreference
from service.notifications.unsubscribe import unsubscribe_token
from tests.service.notifications.world import notify_settings
from tests.service.web.test_member_app import browser, csrf_of, member_of, sign_up

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


def earned(engine, member_id: int, reward_id: int) -> None:
    with engine.begin() as conn:
        record_notifications(
            conn,
            [
                NewNotification(
                    member_id=member_id, kind=Kind.CASHBACK_EARNED,
                    source_key=f"reward:{reward_id}:earned", created_at=NOW, reward_id=reward_id,
                    amount_minor=200, currency="USD", facts={"merchant": "Blue Bottle"},
                )
            ],
            NOW,
        )  # fmt: skip


def ids_of(engine, member_id: int) -> list[int]:
    t = Notification.__table__
    with engine.connect() as conn:
        return list(conn.execute(select(t.c.id).where(t.c.member_id == member_id)).scalars())


def test_the_page_lists_mine_counts_unread_and_marks_read(engine):
    app = create_app(engine=engine, settings=notify_settings())
    ada, bob = browser(app), browser(app)
    sign_up(ada, "ada@example.com")
    sign_up(bob, "bob@example.com")
    ada_id = member_of(engine, "ada@example.com").id
    bob_id = member_of(engine, "bob@example.com").id
    earned(engine, ada_id, 1)
    earned(engine, bob_id, 2)

    page = ada.get("/app/notifications")
    assert page.status_code == 200
    assert "You earned $2.00 at Blue Bottle" in page.text
    assert "1 unread" in page.text
    assert ada.get("/app/notifications/badge").text.endswith(">1</span>")
    [bobs] = ids_of(engine, bob_id)
    assert f"notification-{bobs}" not in page.text

    token = csrf_of(ada, "/app/notifications")
    # Bob's notification through Ada's session: not found, and still unread.
    theirs = ada.post(
        "/app/notifications/read", data={"csrf_token": token, "notification_id": str(bobs)}
    )
    assert theirs.status_code == 404
    [mine] = ids_of(engine, ada_id)
    done = ada.post(
        "/app/notifications/read", data={"csrf_token": token, "notification_id": str(mine)}
    )
    assert done.status_code == 303
    assert "All read" in ada.get("/app/notifications").text
    assert ada.get("/app/notifications/badge").text == ""
    assert "1 unread" in bob.get("/app/notifications").text


def test_choices_are_saved_from_the_page_and_bad_ones_named(engine):
    app = create_app(engine=engine, settings=notify_settings())
    ada = browser(app)
    sign_up(ada, "ada@example.com")
    token = csrf_of(ada, "/app/notifications")
    bad = ada.post(
        "/app/notifications/preferences",
        data={"csrf_token": token, "email": "on", "timezone": "Mars/Olympus",
              "quiet_start": "22:00", "quiet_end": "07:00"},
    )  # fmt: skip
    assert bad.status_code == 422
    assert 'id="timezone-error"' in bad.text
    good = ada.post(
        "/app/notifications/preferences",
        data={"csrf_token": token, "timezone": "Europe/Oslo", "quiet_start": "22:00",
              "quiet_end": "07:00"},
    )  # fmt: skip
    assert good.status_code == 303
    member_id = member_of(engine, "ada@example.com").id
    t = NotificationPreference.__table__
    with engine.connect() as conn:
        row = conn.execute(select(t).where(t.c.member_id == member_id)).one()
    assert (row.email, row.timezone, row.quiet_start_minute, row.quiet_end_minute) == (
        False, "Europe/Oslo", 1320, 420,
    )  # fmt: skip


def test_the_unsubscribe_link_works_without_signing_in(engine):
    settings = notify_settings()
    app = create_app(engine=engine, settings=settings)
    ada = browser(app)
    sign_up(ada, "ada@example.com")
    member_id = member_of(engine, "ada@example.com").id
    token = unsubscribe_token(settings.web_secret_key, member_id, "email")

    stranger = TestClient(app, base_url="http://localhost", follow_redirects=False)
    ask = stranger.get(f"/app/unsubscribe/{token}")
    assert ask.status_code == 200 and "Stop cashback emails" in ask.text
    # Looking at the link changes nothing (mail scanners follow links).
    assert _email_on(engine, member_id)
    done = stranger.post(f"/app/unsubscribe/{token}", data={"List-Unsubscribe": "One-Click"})
    assert done.status_code == 200 and "no more cashback emails" in done.text
    assert not _email_on(engine, member_id)

    # A token altered, or signed with another key, does nothing.
    forged = unsubscribe_token("another-secret-key-0123456789abcdef", member_id, "email")
    for bad in (forged, token[:-2] + "xx", re.sub(r"^.", "X", token)):
        assert stranger.post(f"/app/unsubscribe/{bad}").status_code == 404


def _email_on(engine, member_id: int) -> bool:
    t = NotificationPreference.__table__
    with engine.connect() as conn:
        row = conn.execute(select(t.c.email).where(t.c.member_id == member_id)).first()
    return row is None or bool(row.email)


def test_the_browser_hands_its_push_subscription_to_the_app(engine):
    """What app.js posts after PushManager.subscribe (headless Chromium refuses to subscribe,
    so the browser journey cannot; the body here is the stand-in's PushSubscription)."""
    from infra.standins.webpush_standin import WebPushStandin
    from service.notifications.tables import PushSubscription

    app = create_app(engine=engine, settings=notify_settings())
    ada = browser(app)
    sign_up(ada, "ada@example.com")
    token = csrf_of(ada, "/app/notifications")
    with WebPushStandin() as push:
        body = push.subscribe().as_json()
    headers = {"X-CSRF-Token": token}
    assert ada.post("/app/notifications/push-subscriptions", json=body).status_code == 403
    first = ada.post("/app/notifications/push-subscriptions", json=body, headers=headers)
    again = ada.post("/app/notifications/push-subscriptions", json=body, headers=headers)
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.json() == again.json()
    bad = ada.post(
        "/app/notifications/push-subscriptions",
        json={"endpoint": "ftp://x", "keys": {}},
        headers=headers,
    )
    assert bad.status_code == 422
    t = PushSubscription.__table__
    with engine.connect() as conn:
        rows = conn.execute(select(t.c.member_id, t.c.endpoint)).all()
    assert rows == [(member_of(engine, "ada@example.com").id, body["endpoint"])]
