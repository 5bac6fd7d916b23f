"""Missing cashback in the member app and the merchant portal, on SQLite and PostgreSQL:
a member claims a $40.00 purchase from its activity item with a receipt, the merchant's
owner accepts it (cashback 200 booked), another merchant never sees it."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import insert
from sqlmodel import Session, select

from service.app import create_app
from service.cards import service as cards
from service.cards.schemas import CardCreate
from service.claims.tables import Claim
from service.config import Settings
from service.tables import CardEventRow, Member, Offer
from service.web.staff.tables import StaffUser
from settlement.budget import ensure_budget
from tests.service.web.staff_world import add_merchant, signed_in
from tests.service.web.test_member_app import browser, csrf_of, member_of, sign_up

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


@pytest.fixture
def app(engine):
    return create_app(engine=engine, settings=Settings(environment="test"))


def add_offer(engine, merchant_id: int) -> None:
    now = datetime.now(UTC)
    with engine.begin() as conn:
        offer_id = conn.execute(
            insert(Offer.__table__).values(
                merchant_id=merchant_id, title="5% back", status="live", kind="cashback",
                reward_type="percent", currency="USD", rate_bps=500, reward_amount=0,
                min_spend_amount=0, brand_wide=True, starts_at=now - timedelta(days=10),
                dayparts_json="[]", bonus_windows_json="[]", audience="everyone",
                lookback_days=0, activation_required=False, hold_days=30,
                commission_bps=2000, commission_base="reward", holdout_bps=0,
                created_at=now, updated_at=now,
            )
        ).inserted_primary_key[0]  # fmt: skip
        ensure_budget(
            conn, offer_id=offer_id, currency="USD", budget_amount=None, max_redemptions=None
        )


def member_with_purchase(app, engine, merchant_id: int):
    """A signed-in member with a card and a $40.00 purchase at the merchant that paid nothing."""
    client = browser(app)
    sign_up(client, "ada@example.com")
    now = datetime.now(UTC)
    with Session(engine) as session:
        member = session.get(Member, member_of(engine, "ada@example.com").id)
        assert member is not None and member.id is not None
        card, _ = cards.register_card(
            session,
            member,
            CardCreate(provider_token="tok_ada", fingerprint="fp_ada", brand="visa", last4="4242"),
            provider="publisher",
            now=now,
        )
        assert card.id is not None
        event = CardEventRow(
            source="network", external_id="ada-1", kind="clearing", card_id=card.id,
            member_id=member.id, merchant_id=merchant_id, amount=4_000, currency="USD",
            occurred_at=now - timedelta(hours=2), channel="in_store", outcome="no_reward",
            reason="not_activated", ingested_at=now,
        )  # fmt: skip
        session.add(event)
        session.commit()
        return client, event.id


def claim_form(client, event_id: int) -> tuple[str, str]:
    page = client.get(f"/app/claims/new?event={event_id}")
    assert page.status_code == 200, page.text[:500]
    token = re.search(r'name="form_token" value="([^"]+)"', page.text)
    assert token
    return csrf_of(client, f"/app/claims/new?event={event_id}"), token.group(1)


def test_member_claims_from_activity_and_the_owner_accepts(app, engine):
    shop, other = add_merchant(engine), add_merchant(engine, name="Red Kettle", mid="MID-RK-1")
    add_offer(engine, shop.merchant_id)
    client, event_id = member_with_purchase(app, engine, shop.merchant_id)
    activity = client.get("/app/activity")
    assert f'href="/app/claims/new?event={event_id}"' in activity.text
    page = client.get(f"/app/claims/new?event={event_id}")
    assert 'value="40.00"' in page.text and "Blue Bottle" in page.text

    csrf, form_token = claim_form(client, event_id)
    fields = {
        "csrf_token": csrf,
        "form_token": form_token,
        "card_event_id": str(event_id),
        "merchant_id": str(shop.merchant_id),
        "purchase_date": datetime.now(UTC).date().isoformat(),
        "amount": "40.00",
        "card_last4": "4242",
        "note": "Paid at the counter",
    }
    text_file = client.post(
        "/app/claims", data=fields, files={"receipt": ("receipt.png", b"not an image", "image/png")}
    )
    assert text_file.status_code == 422
    assert "JPEG, PNG or PDF" in text_file.text and 'value="40.00"' in text_file.text
    filed = client.post(
        "/app/claims", data=fields, files={"receipt": ("receipt.png", PNG, "image/png")}
    )
    assert filed.status_code == 303, filed.text[:800]
    again = client.post(
        "/app/claims", data=fields, files={"receipt": ("receipt.png", PNG, "image/png")}
    )
    assert again.status_code == 303  # the same form twice: one claim
    with Session(engine) as session:
        (claim,) = session.exec(select(Claim)).all()
    assert (claim.spend_amount, claim.card_event_id, claim.status) == (4_000, event_id, "submitted")
    assert "Waiting for the merchant" in client.get("/app/claims").text

    # Another brand's owner sees nothing of it and cannot decide it.
    stranger, stranger_csrf = signed_in(app, "merchant", other.owner)
    assert f'data-claim="{claim.id}"' not in stranger.get("/merchant/claims").text
    assert stranger.get(f"/merchant/claims/{claim.id}/receipt").status_code == 404
    refused = stranger.post(
        f"/merchant/claims/{claim.id}/decision",
        data={"csrf_token": stranger_csrf, "decision": "accept"},
    )
    assert refused.status_code == 404
    # An analyst reads the queue but cannot decide.
    analyst, analyst_csrf = signed_in(app, "merchant", shop.analyst)
    assert f'data-claim="{claim.id}"' in analyst.get("/merchant/claims").text
    denied = analyst.post(
        f"/merchant/claims/{claim.id}/decision",
        data={"csrf_token": analyst_csrf, "decision": "accept"},
    )
    assert denied.status_code == 403

    owner, owner_csrf = signed_in(app, "merchant", shop.owner)
    queue = owner.get("/merchant/claims")
    assert f'data-claim="{claim.id}"' in queue.text and "$40.00" in queue.text
    assert owner.get(f"/merchant/claims/{claim.id}/receipt").content == PNG
    accepted = owner.post(
        f"/merchant/claims/{claim.id}/decision",
        data={"csrf_token": owner_csrf, "decision": "accept"},
    )
    assert accepted.status_code == 303, accepted.text[:800]
    decider = f"merchant:staff:{owner_id(engine, shop.owner)}"
    with Session(engine) as session:
        decided = session.get(Claim, claim.id)
        assert decided is not None
        assert (decided.status, decided.reward_amount, decided.decided_by) == (
            "accepted",
            200,
            decider,
        )
    assert "$2.00 cashback, pending" in client.get("/app/claims").text


def owner_id(engine, email: str) -> int:
    with Session(engine) as session:
        user = session.exec(select(StaffUser).where(StaffUser.email == email)).one()
        assert user.id is not None
        return user.id


def test_declining_needs_a_reason_and_the_member_reads_it(app, engine):
    shop = add_merchant(engine)
    add_offer(engine, shop.merchant_id)
    client, event_id = member_with_purchase(app, engine, shop.merchant_id)
    csrf, form_token = claim_form(client, event_id)
    filed = client.post(
        "/app/claims",
        data={
            "csrf_token": csrf, "form_token": form_token, "merchant_id": str(shop.merchant_id),
            "purchase_date": datetime.now(UTC).date().isoformat(), "amount": "40",
            "card_last4": "4242",
        },
    )  # fmt: skip
    assert filed.status_code == 303, filed.text[:800]
    with Session(engine) as session:
        (claim,) = session.exec(select(Claim)).all()
    owner, owner_csrf = signed_in(app, "merchant", shop.owner)
    url = f"/merchant/claims/{claim.id}/decision"
    blank = owner.post(url, data={"csrf_token": owner_csrf, "decision": "decline"})
    assert blank.status_code == 422 and "the member sees it" in blank.text
    done = owner.post(
        url, data={"csrf_token": owner_csrf, "decision": "decline", "reason": "Not our shop"}
    )
    assert done.status_code == 303
    mine = client.get("/app/claims").text
    assert "Declined" in mine and "Not our shop" in mine
