"""The merchant portal's offers through its pages, on SQLite and PostgreSQL: sign-in, the
live preview (the production matching code), create once on a double submit, field errors
from the API's problem documents, roles and tenant walls."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime

import pytest
from sqlmodel import Session, select

from service.app import create_app
from service.auth import Principal, Role
from service.config import Settings
from service.offers import service as offers
from service.offers.catalog import aware
from service.offers.schemas import DayPartIn, OfferCreate
from service.tables import Merchant, Offer
from tests.service.web.staff_world import (
    add_merchant,
    browser,
    form_token_of,
    sign_in,
    signed_in,
)

OFFER = {
    "title": "Lunch deal",
    "kind": "cashback",
    "reward_type": "percent",
    "rate_bps": "5",
    "min_spend_amount": "10",
    "max_reward_amount": "5",
    "starts_at": "2026-01-01T00:00",
    "hold_days": "30",
    "audience": "everyone",
    "daypart_days": ["0", "1", "2", "3", "4"],
    "daypart_start": "11:00",
    "daypart_end": "14:00",
    "sample_amount": "25.00",
    "sample_at": "2026-12-01T12:00",  # a Tuesday, noon in New York
    "sample_customer": "new",
}


ADMIN = Principal(credential_id=0, role=Role.ADMIN)


@pytest.fixture
def app(engine):
    settings = Settings(environment="test", web_sign_in_limit_per_account="3/minute")
    return create_app(engine=engine, settings=settings)


def create(client, token: str, **changes) -> str:
    form = client.get("/merchant/offers/new")
    resp = client.post(
        "/merchant/offers",
        data={**OFFER, "csrf_token": token, "form_token": form_token_of(form.text), **changes},
    )
    assert resp.status_code == 303, resp.text[:2000]
    return resp.headers["location"].split("?")[0]


def test_staff_pages_need_a_signed_in_staff_user(app, engine) -> None:
    add_merchant(engine)
    client = browser(app)
    resp = client.get("/merchant/offers")
    assert resp.status_code == 303
    assert resp.headers["location"] == "/merchant/sign-in?next=/merchant/offers"


def test_the_preview_follows_the_amount_and_the_day_part(app, engine) -> None:
    tenant = add_merchant(engine)
    client, token = signed_in(app, "merchant", tenant.owner)
    earns = client.post("/merchant/offer-preview", data={**OFFER, "csrf_token": token})
    # 5% of $25.00 is $1.25; commission 20% of what the merchant pays: 125 x 2000/8000 = 31.
    assert 'data-outcome="qualified"' in earns.text
    assert "Earns $1.25" in earns.text and "You pay $1.56" in earns.text
    assert "5% back on $10.00 or more, up to $5.00, weekdays" in earns.text
    small = client.post(
        "/merchant/offer-preview", data={**OFFER, "csrf_token": token, "sample_amount": "9.99"}
    )
    assert 'data-outcome="below_min_spend"' in small.text and "Earns nothing" in small.text
    evening = client.post(
        "/merchant/offer-preview",
        data={**OFFER, "csrf_token": token, "sample_at": "2026-12-01T19:00"},
    )
    assert 'data-outcome="daypart"' in evening.text


def test_a_double_submitted_offer_is_one_offer(app, engine) -> None:
    tenant = add_merchant(engine)
    client, token = signed_in(app, "merchant", tenant.owner)
    form = client.get("/merchant/offers/new")
    data = {**OFFER, "csrf_token": token, "form_token": form_token_of(form.text)}
    first = client.post("/merchant/offers", data=data)
    second = client.post("/merchant/offers", data=data)
    assert first.headers["location"] == second.headers["location"]
    with Session(engine) as session:
        assert len(session.exec(select(Offer)).all()) == 1


def test_bad_input_is_a_field_error_and_a_refused_live_edit_changes_nothing(app, engine):
    tenant = add_merchant(engine)
    client, token = signed_in(app, "merchant", tenant.owner)
    bad = client.post(
        "/merchant/offers",
        data={**OFFER, "csrf_token": token, "rate_bps": "five", "form_token": "t1"},
    )
    assert bad.status_code == 422
    assert 'id="f-rate_bps-error"' in bad.text
    fixed = client.post(
        "/merchant/offers",
        data={**OFFER, "csrf_token": token, "reward_type": "fixed", "form_token": "t2"},
    )
    assert fixed.status_code == 422 and 'id="f-reward_amount-error"' in fixed.text
    path = create(client, token)
    assert client.post(f"{path}/publish", data={"csrf_token": token}).status_code == 303
    narrowed = client.post(path, data={**OFFER, "csrf_token": token, "min_spend_amount": "20"})
    assert narrowed.status_code == 409
    assert 'id="f-min_spend_amount-error"' in narrowed.text
    with Session(engine) as session:
        offer = session.exec(select(Offer)).one()
        assert (offer.status, offer.min_spend_amount) == ("live", 1000)
    raised = client.post(path, data={**OFFER, "csrf_token": token, "rate_bps": "7.5"})
    assert raised.status_code == 303
    with Session(engine) as session:
        assert session.exec(select(Offer)).one().rate_bps == 750


def test_a_card_number_in_a_form_is_refused_and_not_echoed(app, engine) -> None:
    tenant = add_merchant(engine)
    client, token = signed_in(app, "merchant", tenant.owner)
    resp = client.post(
        "/merchant/offers",
        data={**OFFER, "csrf_token": token, "title": "4242 4242 4242 4242", "form_token": "t"},
    )
    assert resp.status_code == 422
    assert "4242 4242 4242 4242" not in resp.text and "card number" in resp.text


def test_a_form_token_that_spells_a_card_number_is_not_refused(app, engine) -> None:
    """The form's own tokens are not typed by anyone: a random one whose digits happen to
    spell a Luhn-valid card number (a hex CSRF token holds a 13-digit run about one time in
    ten) was refused as one, with an error next to no input."""
    tenant = add_merchant(engine)
    client, token = signed_in(app, "merchant", tenant.owner)
    resp = client.post(
        "/merchant/offers",
        data={**OFFER, "csrf_token": token, "form_token": "a4242424242424242f"},
    )
    assert resp.status_code == 303, resp.text[:300]


def test_another_merchants_offer_is_not_found_and_an_analyst_cannot_publish(app, engine):
    ours, theirs = add_merchant(engine), add_merchant(engine, name="Corner Books", mid="MID-CB")
    owner, token = signed_in(app, "merchant", ours.owner)
    path = create(owner, token)
    rival, rival_token = signed_in(app, "merchant", theirs.owner)
    assert rival.get(path).status_code == 404
    assert rival.post(f"{path}/publish", data={"csrf_token": rival_token}).status_code == 404
    assert rival.post(path, data={**OFFER, "csrf_token": rival_token}).status_code == 404
    peek = rival.post(
        "/merchant/offer-preview",
        data={**OFFER, "csrf_token": rival_token, "offer_id": path.rsplit("/", 1)[1]},
    )
    assert peek.status_code == 404
    assert "Lunch deal" not in rival.get("/merchant/offers").text
    analyst, analyst_token = signed_in(app, "merchant", ours.analyst)
    assert analyst.get(path).status_code == 200  # analysts read
    assert analyst.post(f"{path}/publish", data={"csrf_token": analyst_token}).status_code == 403
    assert analyst.get("/merchant/offers/new").status_code == 403
    with Session(engine) as session:
        assert session.exec(select(Offer)).one().status == "draft"


def test_merchant_users_cannot_sign_in_to_finance_and_failures_are_limited(app, engine):
    tenant = add_merchant(engine)
    client = browser(app)
    assert sign_in(client, "finance", tenant.owner).status_code == 401
    for _ in range(3):  # the finance failure counts on the finance side only
        assert sign_in(client, "merchant", tenant.owner, "wrong password").status_code == 401
    limited = sign_in(client, "merchant", tenant.owner)
    assert limited.status_code == 429 and limited.headers["retry-after"] == "60"


def test_editing_a_live_offer_keeps_what_the_form_cannot_show(app, engine) -> None:
    """Seconds in its start and a second day part (set through the API) survive a rename."""
    tenant = add_merchant(engine)
    start = datetime(2026, 1, 1, 9, 30, 17, tzinfo=UTC)
    windows = [
        DayPartIn(weekdays=[0, 1], start_minute=420, end_minute=600),
        DayPartIn(weekdays=[5], start_minute=0, end_minute=1440),
    ]
    with Session(engine) as session:
        merchant = session.get(Merchant, tenant.merchant_id)
        assert merchant is not None
        data = OfferCreate(
            title="Old name", reward_type="percent", rate_bps=500, starts_at=start,
            dayparts=windows, birthday_bonus_bps=100,
        )  # fmt: skip
        offer = offers.create_offer(session, merchant, data, principal=ADMIN, now=start)
        offers.transition(session, offer, "publish", now=start)
        offer_id = offer.id
        session.commit()
    client, token = signed_in(app, "merchant", tenant.owner)
    form = client.get(f"/merchant/offers/{offer_id}").text
    values = dict(re.findall(r'name="([a-z_]+)"[^>]*value="([^"]*)"', form))
    values.pop("location_ids")  # an unticked box is not sent
    values.update(csrf_token=token, title="New name", kind="cashback", reward_type="percent",
                  audience="everyone", daypart_days=["0", "1"])  # fmt: skip
    resp = client.post(f"/merchant/offers/{offer_id}", data=values)
    assert resp.status_code == 303, re.findall(r"field-error[^>]*>([^<]+)", resp.text)
    with Session(engine) as session:
        stored = session.get(Offer, offer_id)
        assert stored is not None
        assert stored.title == "New name" and stored.birthday_bonus_bps == 100
        assert len(json.loads(stored.dayparts_json)) == 2
        assert aware(stored.starts_at) == start
