"""The merchant portal's other pages, on SQLite and PostgreSQL: locations by CSV (per-line
errors, nothing half-imported), invitations and API keys (shown once, stored hashed, revoked),
performance JSON for the charts, statements of one's own merchant only."""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, datetime

import pytest
from sqlmodel import Session, select

from service.app import create_app
from service.auth import authenticate
from service.config import Settings
from service.linking_tables import UnresolvedMerchant
from service.problems import Unauthorized
from service.tables import ApiCredential, BrandAlias, Location
from service.web.staff.tables import StaffUser
from tests.service.web.staff_world import add_merchant, browser, csrf_of, signed_in

GOOD = "name,mid,postal_code,country\nSoho,MID-A,10012,US\nChelsea,MID-B,10011,US\n"


@pytest.fixture
def app(engine):
    return create_app(engine=engine, settings=Settings(environment="test"))


def upload(client, token: str, text: str):
    return client.post(
        "/merchant/locations/upload",
        data={"csrf_token": token},
        files={"file": ("locations.csv", text.encode(), "text/csv")},
    )


def locations_of(engine, merchant_id: int) -> list[str]:
    with Session(engine) as session:
        rows = session.exec(select(Location).where(Location.merchant_id == merchant_id))
        return sorted(loc.mid for loc in rows)


def test_a_csv_with_bad_lines_imports_nothing_and_names_each_line(app, engine) -> None:
    tenant = add_merchant(engine, mid="MID-OLD")
    client, token = signed_in(app, "merchant", tenant.owner)
    bad = (
        "name,mid,country\nSoho,MID-A,US\nChelsea,MID-A,US\nNoMid,,US\nOld,MID-OLD,US\n"
        "X,MID-C,usa\n"
    )
    resp = upload(client, token, bad)
    assert resp.status_code == 422 and "Nothing was imported" in resp.text
    lines = re.findall(r"<tr><td>(\d+)</td><td>(\w+)</td>", resp.text)
    assert lines == [("3", "mid"), ("4", "mid"), ("5", "mid"), ("6", "country")]
    assert locations_of(engine, tenant.merchant_id) == ["MID-OLD"]
    assert upload(client, token, "mid,name,colour\n").status_code == 422  # unknown column
    done = upload(client, token, GOOD)
    assert done.status_code == 303 and done.headers["location"].endswith("imported=2")
    assert locations_of(engine, tenant.merchant_id) == ["MID-A", "MID-B", "MID-OLD"]
    card = upload(client, token, "name,mid\nShop,4242424242424242\n")
    assert card.status_code == 422 and "4242424242424242" not in card.text


def test_an_analyst_cannot_add_locations_or_see_keys(app, engine) -> None:
    tenant = add_merchant(engine)
    client, token = signed_in(app, "merchant", tenant.analyst)
    assert upload(client, token, GOOD).status_code == 403
    added = client.post("/merchant/locations", data={"csrf_token": token, "name": "A", "mid": "M"})
    assert added.status_code == 403
    assert client.get("/merchant/team").status_code == 403
    assert client.post("/merchant/keys", data={"csrf_token": token}).status_code == 403
    assert locations_of(engine, tenant.merchant_id) == ["MID-BB-1"]


def test_an_api_key_is_shown_once_stored_hashed_and_revocable(app, engine) -> None:
    tenant = add_merchant(engine)
    client, token = signed_in(app, "merchant", tenant.owner)
    resp = client.post("/merchant/keys", data={"csrf_token": token, "name": "till"})
    found = re.search(r"data-secret>([^<]+)<", resp.text)
    assert found is not None
    secret = found.group(1)
    assert secret not in client.get("/merchant/team").text
    with Session(engine) as session:
        row = session.exec(select(ApiCredential).where(ApiCredential.name == "till")).one()
        assert row.secret_sha256 == hashlib.sha256(secret.split(".", 1)[1].encode()).hexdigest()
        principal = authenticate(session, secret, now=datetime.now(UTC))
        assert principal.merchant_id == tenant.merchant_id
    other = add_merchant(engine, name="Corner Books", mid="MID-CB")
    rival, rival_token = signed_in(app, "merchant", other.owner)
    assert (
        rival.post(f"/merchant/keys/{row.id}/revoke", data={"csrf_token": rival_token}).status_code
        == 404
    )
    assert (
        client.post(f"/merchant/keys/{row.id}/revoke", data={"csrf_token": token}).status_code
        == 303
    )
    with Session(engine) as session, pytest.raises(Unauthorized):
        authenticate(session, secret, now=datetime.now(UTC))


def test_an_invited_user_sets_a_password_once_and_a_removed_one_is_signed_out(app, engine):
    tenant = add_merchant(engine)
    owner, token = signed_in(app, "merchant", tenant.owner)
    resp = owner.post(
        "/merchant/team/invite",
        data={"csrf_token": token, "email": "Neo@Example.com", "role": "analyst"},
    )
    link = re.search(r"data-secret>[^<]*(/merchant/welcome\?token=[^<]+)<", resp.text).group(1)
    again = owner.post(
        "/merchant/team/invite",
        data={"csrf_token": token, "email": "neo@example.com", "role": "owner"},
    )
    assert again.status_code == 409 and 'id="f-email-error"' in again.text
    invitee = browser(app)
    welcome_token = csrf_of(invitee, link)
    accepted = invitee.post(
        "/merchant/welcome",
        data={
            "csrf_token": welcome_token,
            "token": link.split("=", 1)[1],
            "password": "a new password!",
        },
    )
    assert accepted.status_code == 303
    assert invitee.get("/merchant/offers").status_code == 200
    assert invitee.get(link).status_code == 404  # the link works once
    with Session(engine) as session:
        neo = session.exec(select(StaffUser).where(StaffUser.email == "neo@example.com")).one()
        assert neo.role == "analyst" and neo.password_hash.startswith("$argon2")
    assert (
        owner.post(f"/merchant/team/{neo.id}/remove", data={"csrf_token": token}).status_code == 303
    )
    assert invitee.get("/merchant/offers").status_code == 303


def test_performance_json_and_statements_stay_inside_the_tenant(app, engine) -> None:
    ours, theirs = add_merchant(engine), add_merchant(engine, name="Corner Books", mid="MID-CB")
    client, token = signed_in(app, "merchant", ours.owner)
    form = client.get("/merchant/offers/new").text
    found = re.search(r'name="form_token" value="([^"]+)"', form)
    assert found is not None
    form_token = found.group(1)
    offer = {
        "title": "Ten off",
        "reward_type": "percent",
        "rate_bps": "10",
        "starts_at": "2026-01-01T00:00",
        "budget_amount": "500",
        "holdout_bps": "10",
    }
    created = client.post(
        "/merchant/offers", data={"csrf_token": token, "form_token": form_token, **offer}
    )
    offer_path = created.headers["location"].split("?")[0]
    offer_id = offer_path.rsplit("/", 1)[1]
    page = client.get(f"/merchant/performance/{offer_id}").text
    assert "data-counted-by" in page and "when the card payment cleared" in page
    data = client.get(f"/merchant/performance/{offer_id}/data.json").json()
    assert data["budget"]["total_amount"] == 50_000 and data["budget"]["used_amount"] == 0
    assert len(data["days"]) >= 14
    assert data["lift"]["estimate"] is None and data["lift"]["note"]  # no members yet
    rival, _ = signed_in(app, "merchant", theirs.owner)
    assert rival.get(f"/merchant/performance/{offer_id}/data.json").status_code == 404
    assert rival.get(f"/merchant/performance/{offer_id}").status_code == 404
    assert "Ten off" not in rival.get("/merchant/performance").text
    assert rival.get("/merchant/statements/1.csv").status_code == 404


def test_card_names_are_claimed_by_an_owner_and_others_claims_stay_hidden(app, engine):
    ours, theirs = add_merchant(engine), add_merchant(engine, name="Corner Books", mid="MID-CB")
    now = datetime.now(UTC)
    with Session(engine) as session:
        for value, status, merchant_id in (
            ("blue bottle", "open", None),  # the brand's own name, seen without a known MID
            ("corner books annex", "mapped", theirs.merchant_id),
        ):
            session.add(
                UnresolvedMerchant(
                    kind="name", value=value, example_name=value.title(), event_count=3,
                    first_seen_at=now, last_seen_at=now, status=status, merchant_id=merchant_id,
                )
            )  # fmt: skip
        session.commit()
        query = select(UnresolvedMerchant.id).where(UnresolvedMerchant.status == "open")
        open_id = session.exec(query).one()
    analyst, analyst_token = signed_in(app, "merchant", ours.analyst)
    listing = analyst.get("/merchant/names").text
    assert "Blue Bottle" in listing and "Corner Books Annex" not in listing
    claim = f"/merchant/names/{open_id}/map"
    assert analyst.post(claim, data={"csrf_token": analyst_token}).status_code == 403
    owner, token = signed_in(app, "merchant", ours.owner)
    resp = owner.post(claim, data={"csrf_token": token})
    assert resp.status_code == 303 and "events=0" in resp.headers["location"]
    with Session(engine) as session:
        alias = session.exec(select(BrandAlias).where(BrandAlias.alias == "blue bottle")).one()
        assert alias.merchant_id == ours.merchant_id
    rival, rival_token = signed_in(app, "merchant", theirs.owner)
    assert "Blue Bottle" not in rival.get("/merchant/names").text
    # Now another merchant's name: behind the tenant wall, as if it did not exist.
    assert rival.post(claim, data={"csrf_token": rival_token}).status_code == 404
