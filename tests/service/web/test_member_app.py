"""The member app's guards, through its pages on SQLite and PostgreSQL: CSRF on every form,
sign-in limits, session rotation and sign-out everywhere, expired sessions, tenant walls,
card numbers refused in forms."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from service.app import create_app
from service.cards import service as cards
from service.cards.schemas import CardCreate
from service.config import Settings
from service.tables import Card, CardEventRow, Member
from service.web.tables import MemberLogin, WebSession

PASSWORD = "correct horse battery"


@pytest.fixture
def app(engine):
    settings = Settings(environment="test", web_sign_in_limit_per_account="3/minute")
    return create_app(engine=engine, settings=settings)


def browser(app) -> TestClient:
    return TestClient(app, base_url="http://localhost", follow_redirects=False)


def csrf_of(client: TestClient, path: str = "/app/sign-in") -> str:
    page = client.get(path)
    found = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert found, page.text[:500]
    return found.group(1)


def sign_up(client: TestClient, email: str) -> None:
    token = csrf_of(client, "/app/sign-up")
    resp = client.post(
        "/app/sign-up", data={"csrf_token": token, "email": email, "password": PASSWORD}
    )
    assert resp.status_code == 303, resp.text


def sign_in(client: TestClient, email: str, password: str = PASSWORD, next_path: str = "/app"):
    token = csrf_of(client, "/app/sign-up")  # the sign-in page itself redirects a signed-in one
    return client.post(
        "/app/sign-in",
        data={"csrf_token": token, "email": email, "password": password, "next": next_path},
    )


def member_of(engine, email: str) -> Member:
    with Session(engine) as session:
        login = session.exec(select(MemberLogin).where(MemberLogin.email == email)).one()
        member = session.get(Member, login.member_id)
        assert member is not None
        return member


def test_every_form_needs_the_token_of_its_own_browser(app) -> None:
    client, other = browser(app), browser(app)
    missing = client.post("/app/sign-in", data={"email": "a@example.com", "password": "x"})
    assert missing.status_code == 403
    foreign = other.post(
        "/app/sign-in",
        data={"csrf_token": csrf_of(client), "email": "a@example.com", "password": "x"},
        cookies={"clo_csrf": "another-browsers-cookie"},
    )
    assert foreign.status_code == 403
    assert "expired" in foreign.text


def test_failed_sign_ins_are_limited_per_account_even_with_the_right_password(app) -> None:
    client = browser(app)
    sign_up(client, "ada@example.com")
    client.cookies.clear()
    for _ in range(3):
        assert sign_in(client, "ada@example.com", "wrong password!").status_code == 401
    limited = sign_in(client, "ada@example.com")
    assert limited.status_code == 429
    assert limited.headers["retry-after"] == "60"
    assert "Too many attempts" in limited.text
    app.state.sign_in_limiter.reset()
    assert sign_in(client, "ada@example.com").status_code == 303


def test_sign_in_replaces_the_session_and_sign_out_everywhere_ends_every_one(app, engine):
    phone, laptop = browser(app), browser(app)
    sign_up(phone, "bo@example.com")
    first = phone.cookies["clo_app_session"]
    assert sign_in(phone, "bo@example.com").status_code == 303
    second = phone.cookies["clo_app_session"]
    assert second != first
    stale = browser(app).get("/app/wallet", headers={"Cookie": f"clo_app_session={first}"})
    assert stale.status_code == 303  # the old session ended at sign-in
    current = browser(app).get("/app/wallet", headers={"Cookie": f"clo_app_session={second}"})
    assert current.status_code == 200

    assert sign_in(laptop, "bo@example.com").status_code == 303
    assert laptop.get("/app/wallet").status_code == 200
    token = csrf_of(phone, "/app/account")
    assert phone.post("/app/sign-out-everywhere", data={"csrf_token": token}).status_code == 303
    assert laptop.get("/app/wallet").headers["location"].startswith("/app/sign-in")
    with Session(engine) as session:
        assert all(s.revoked_at is not None for s in session.exec(select(WebSession)))


def test_an_expired_session_returns_to_the_page_asked_for_after_sign_in(app, engine) -> None:
    client = browser(app)
    sign_up(client, "cy@example.com")
    with Session(engine) as session:
        for row in session.exec(select(WebSession)):
            row.expires_at = datetime.now(UTC) - timedelta(seconds=1)
            session.add(row)
        session.commit()
    asked = client.get("/app/activity?before=99")
    assert asked.status_code == 303
    assert asked.headers["location"] == "/app/sign-in?next=/app/activity%3Fbefore%3D99"
    back = sign_in(client, "cy@example.com", next_path="/app/activity?before=99")
    assert back.headers["location"] == "/app/activity?before=99"
    elsewhere = sign_in(client, "cy@example.com", next_path="https://evil.example/app")
    assert elsewhere.headers["location"] == "/app"


def test_a_member_never_reaches_another_members_cards_or_events(app, engine) -> None:
    ada, eve = browser(app), browser(app)
    sign_up(ada, "ada@example.com")
    sign_up(eve, "eve@example.com")
    now = datetime.now(UTC)
    with Session(engine) as session:
        owner = session.get(Member, member_of(engine, "ada@example.com").id)
        assert owner is not None
        card, _ = cards.register_card(
            session,
            owner,
            CardCreate(provider_token="tok_ada", fingerprint="fp_ada", brand="visa", last4="4242"),
            provider="publisher",
            now=now,
        )
        assert card.id is not None and owner.id is not None
        event = CardEventRow(
            source="network",
            external_id="ada-1",
            kind="auth",
            card_id=card.id,
            member_id=owner.id,
            amount=1200,
            currency="USD",
            occurred_at=now,
            channel="in_store",
            outcome="no_offer",
            ingested_at=now,
        )
        session.add(event)
        session.commit()
        card_id, event_id = card.id, event.id
    assert ada.get(f"/app/cards/{card_id}/unlink").status_code == 200
    assert ada.get(f"/app/activity/{event_id}").status_code == 200
    assert eve.get(f"/app/cards/{card_id}/unlink").status_code == 404
    token = csrf_of(eve, "/app/account")
    assert eve.post(f"/app/cards/{card_id}/unlink", data={"csrf_token": token}).status_code == 404
    assert eve.get(f"/app/activity/{event_id}").status_code == 404
    assert "Blue" not in eve.get("/app/activity").text
    with Session(engine) as session:
        linked = session.get(Card, card_id)
        assert linked is not None
        assert linked.status == "active"


def test_a_card_number_typed_into_a_form_is_refused_and_never_stored(app, engine) -> None:
    client = browser(app)
    token = csrf_of(client, "/app/sign-up")
    resp = client.post(
        "/app/sign-up",
        data={
            "csrf_token": token,
            "email": "dan@example.com",
            "password": PASSWORD,
            "display_name": "4242 4242 4242 4242",
        },
    )
    assert resp.status_code == 422
    assert "looks like a card number" in resp.text
    assert "4242 4242 4242 4242" not in resp.text
    with Session(engine) as session:
        assert session.exec(select(Member)).first() is None


def test_a_sign_up_sent_twice_makes_one_account_and_signs_in_both_times(app, engine) -> None:
    client = browser(app)
    page = client.get("/app/sign-up").text
    fields = dict(re.findall(r'name="(csrf_token|form_token)" value="([^"]+)"', page))
    form = {**fields, "email": "twin@example.com", "password": PASSWORD}
    cookie = client.cookies["clo_csrf"]  # what a double tap's second request still carries
    first = client.post("/app/sign-up", data=form)
    again = browser(app).post("/app/sign-up", data=form, headers={"Cookie": f"clo_csrf={cookie}"})
    assert first.status_code == again.status_code == 303
    assert again.headers["location"] == "/app/cards?welcome=1"
    assert "clo_app_session" in again.headers["set-cookie"]
    with Session(engine) as session:
        assert len(session.exec(select(MemberLogin)).all()) == 1
