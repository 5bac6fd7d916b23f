"""The /v1 API for merchants, locations, brand aliases and offers: errors, scoping, lifecycle."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from service.auth import Role
from service.tables import Location, Merchant, Offer
from tests.service.api_client import (
    PAN,
    api_for,
    assert_problem,
    assert_stored_nowhere,
    card_event,
    create_location,
    create_member,
    create_merchant,
    create_offer,
    iso,
    offer_body,
    push_events,
    register_card,
)


@pytest.fixture
def api(engine):
    with api_for(engine) as a:
        yield a


# -- merchants, locations, aliases ----------------------------------------------------------
def test_admin_creates_a_merchant_and_its_location(api):
    merchant = create_merchant(api, brand_name="Blue Bottle", default_commission_bps=2000)
    assert merchant["brand_name"] == "Blue Bottle"
    assert merchant["default_commission_bps"] == 2000
    assert merchant["created_at"].endswith("Z")  # UTC
    loc = create_location(api, merchant_id=merchant["id"], mid="MID-BB-1")
    assert (loc["merchant_id"], loc["mid"]) == (merchant["id"], "MID-BB-1")
    got = api.get(f"/v1/merchants/{merchant['id']}/locations/{loc['id']}", api.admin)
    assert got.json() == loc
    listed = api.get(f"/v1/merchants/{merchant['id']}/locations", api.finance).json()
    assert [x["id"] for x in listed["items"]] == [loc["id"]]
    renamed = api.patch(
        f"/v1/merchants/{merchant['id']}/locations/{loc['id']}", api.admin, {"name": "Soho"}
    )
    assert (renamed.status_code, renamed.json()["name"]) == (200, "Soho")


def test_a_mid_belongs_to_one_location(api):
    a = create_merchant(api, brand_name="A")
    b = create_merchant(api, brand_name="B")
    create_location(api, merchant_id=a["id"], mid="MID-1")
    resp = api.post(f"/v1/merchants/{b['id']}/locations", api.admin, {"name": "x", "mid": "MID-1"})
    assert_problem(resp, 409, "mid", "duplicate")


def test_an_alias_added_with_punctuation_matches_card_events_without_a_mid(api):
    # The alias is stored as "joes café"; an event naming "JOE'S CAFÉ," with no MID must
    # resolve to the brand through the same normalization: 5% of $40.00 = 200.
    merchant = create_merchant(api, brand_name="Joe's Café")
    resp = api.post(f"/v1/merchants/{merchant['id']}/aliases", api.admin, {"alias": "Joe's Café!"})
    assert resp.status_code == 201, resp.text
    create_offer(api, merchant_id=merchant["id"], publish=True, commission_bps=2000)
    member, _ = create_member(api)
    card = register_card(api, member_id=member["id"])
    event = card_event(card_id=card["id"], mid=None)
    event["merchant_name"] = "JOE'S  CAFÉ,"
    [result] = push_events(api, event)["results"]
    assert (result["outcome"], result["reward_amount"]) == ("rewarded", 200)


def test_brand_alias_is_normalized_and_idempotent(api):
    a = create_merchant(api, brand_name="A")
    b = create_merchant(api, brand_name="B")
    first = api.post(f"/v1/merchants/{a['id']}/aliases", api.admin, {"alias": "Joe's  Café!"})
    assert first.status_code == 201
    assert first.json()["alias"] == "joes café"
    again = api.post(f"/v1/merchants/{a['id']}/aliases", api.admin, {"alias": "JOE'S CAFÉ"})
    assert (again.status_code, again.json()["id"]) == (200, first.json()["id"])
    theirs = api.post(f"/v1/merchants/{b['id']}/aliases", api.admin, {"alias": "joes cafe!"})
    assert theirs.status_code == 201  # "cafe" without the accent is another name
    taken = api.post(f"/v1/merchants/{b['id']}/aliases", api.admin, {"alias": "Joe's Café"})
    assert_problem(taken, 409, "alias", "alias_belongs_to_another_merchant")
    empty = api.post(f"/v1/merchants/{a['id']}/aliases", api.admin, {"alias": "!!!"})
    assert_problem(empty, 422, "alias", "empty")
    alias_id = first.json()["id"]
    merchant_key = api.key(Role.MERCHANT, merchant_id=a["id"])
    forbidden = api.delete(f"/v1/merchants/{a['id']}/aliases/{alias_id}", merchant_key)
    assert_problem(forbidden, 403, "Authorization", "role_not_allowed")
    gone = api.delete(f"/v1/merchants/{b['id']}/aliases/{alias_id}", api.admin)
    assert_problem(gone, 404, "alias_id", "not-found")
    assert api.delete(f"/v1/merchants/{a['id']}/aliases/{alias_id}", api.admin).status_code == 204
    left = api.get(f"/v1/merchants/{a['id']}/aliases", merchant_key).json()["items"]
    assert left == []


def test_merchant_key_edits_its_brand_but_not_its_pricing(api):
    m = create_merchant(api, default_commission_bps=2000)
    key = api.key(Role.MERCHANT, merchant_id=m["id"])
    ok = api.patch(f"/v1/merchants/{m['id']}", key, {"brand_name": "Blue Bottle Coffee"})
    assert (ok.status_code, ok.json()["brand_name"]) == (200, "Blue Bottle Coffee")
    priced = api.patch(f"/v1/merchants/{m['id']}", key, {"default_commission_bps": 0})
    assert_problem(priced, 403, "default_commission_bps", "admin_only")
    null = api.patch(f"/v1/merchants/{m['id']}", key, {"timezone": None})
    assert_problem(null, 422, "timezone", "null_not_allowed")
    assert api.get(f"/v1/merchants/{m['id']}", key).json()["default_commission_bps"] == 2000


# -- errors are problem documents ------------------------------------------------------------
MERCHANT = {"brand_name": "A", "timezone": "UTC", "currency": "USD"}
LEFT_OUT = object()


@pytest.mark.parametrize(
    ("change", "field", "reason"),
    [
        ({"id": 7}, "id", "extra_forbidden"),
        ({"timezone": "Mars/Base"}, "timezone", "value_error"),
        ({"currency": "XYZ"}, "currency", "value_error"),
        ({"brand_name": ""}, "brand_name", "string_too_short"),
        ({"brand_name": LEFT_OUT}, "brand_name", "missing"),
        ({"default_commission_bps": 10_001}, "default_commission_bps", "less_than_equal"),
    ],
)
def test_bad_merchant_bodies_name_the_field(api, change, field, reason):
    body = {k: v for k, v in (MERCHANT | change).items() if v is not LEFT_OUT}
    assert_problem(api.post("/v1/merchants", api.admin, body), 422, field, reason)


def test_malformed_json_and_bad_ids_are_problems_not_500s(api):
    resp = api.client.post(
        "/v1/merchants",
        content=b"{not json",
        headers={**api.admin, "Content-Type": "application/json"},
    )
    assert_problem(resp, 422, "body", "invalid_json")
    not_an_object = api.post("/v1/merchants", api.admin, ["not", "an", "object"])
    assert_problem(not_an_object, 422, "body", "model_attributes_type")
    assert_problem(api.get("/v1/merchants/0", api.admin), 422, "merchant_id", "greater_than_equal")
    huge = api.get(f"/v1/merchants/{2**70}", api.admin)
    assert_problem(huge, 422, "merchant_id", "less_than_equal")
    assert_problem(api.get("/v1/merchants/999", api.admin), 404, "merchant_id", "not-found")
    assert_problem(api.get("/v1/offers/abc", api.admin), 422, "offer_id", "int_parsing")


def test_inputs_the_database_cannot_hold_are_refused_not_500s(api):
    m = create_merchant(api)
    nul = {"brand_name": "Blue\u0000Bottle", "timezone": "UTC", "currency": "USD"}
    assert_problem(api.post("/v1/merchants", api.admin, nul), 422, "brand_name", "value_error")
    alias = api.post(f"/v1/merchants/{m['id']}/aliases", api.admin, {"alias": "a\u0000b"})
    assert_problem(alias, 422, "alias", "value_error")
    deep = b'{"brand_name": ' + b"[" * 5_000 + b"]" * 5_000 + b"}"
    resp = api.client.post(
        "/v1/merchants", content=deep, headers={**api.admin, "Content-Type": "application/json"}
    )
    assert_problem(resp, 422, "body", "too_deep")
    # Keys are 32-bit: a cursor past that is refused, not an overflow inside PostgreSQL.
    resp = api.get(f"/v1/merchants?after_id={2**31}", api.admin)
    assert_problem(resp, 422, "after_id", "less_than_equal")
    for moment in ("0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-12:00"):
        body = offer_body() | {"starts_at": moment}
        resp = api.post(f"/v1/merchants/{m['id']}/offers", api.admin, body)
        assert_problem(resp, 422, "starts_at", "value_error")
    with api.engine.connect() as conn:
        assert conn.execute(select(Merchant.brand_name)).scalars().all() == ["Blue Bottle"]
        assert conn.execute(select(Offer.id)).all() == []


@pytest.mark.parametrize(
    ("headers", "status", "reason"),
    [
        ({}, 401, "missing_credential"),
        ({"Authorization": "Basic abc"}, 401, "missing_credential"),
        ({"Authorization": "Bearer nodot"}, 401, "malformed"),
        ({"Authorization": "Bearer ck_0000000000000000.wrong"}, 401, "invalid_credential"),
    ],
)
def test_missing_or_invalid_credentials_are_401(api, headers, status, reason):
    resp = api.get("/v1/merchants", headers)
    assert_problem(resp, status, "Authorization", reason)
    assert resp.headers["www-authenticate"] == "Bearer"


def test_a_wrong_secret_for_a_real_key_id_is_401(api):
    key_id = api.admin["Authorization"].removeprefix("Bearer ").partition(".")[0]
    resp = api.get("/v1/merchants", {"Authorization": f"Bearer {key_id}.not-the-secret"})
    assert_problem(resp, 401, "Authorization", "invalid_credential")


def test_wrong_role_is_403(api):
    m = create_merchant(api)
    merchant_key = api.key(Role.MERCHANT, merchant_id=m["id"])
    for headers in (api.publisher, api.finance, merchant_key):
        resp = api.post("/v1/merchants", headers, MERCHANT)
        assert_problem(resp, 403, "Authorization", "role_not_allowed")
    resp = api.post(f"/v1/merchants/{m['id']}/offers", api.finance, offer_body())
    assert_problem(resp, 403, "Authorization", "role_not_allowed")


# -- scoping: another merchant's objects are not found --------------------------------------
def test_merchant_key_never_sees_another_merchants_objects(api):
    mine = create_merchant(api, brand_name="Mine")
    theirs = create_merchant(api, brand_name="Theirs")
    their_loc = create_location(api, merchant_id=theirs["id"], mid="MID-T-1")
    their_offer = create_offer(api, merchant_id=theirs["id"], publish=True)
    key = api.key(Role.MERCHANT, merchant_id=mine["id"])
    t, o = theirs["id"], their_offer["id"]
    not_found = [
        (api.get(f"/v1/merchants/{t}", key), "merchant_id"),
        (api.patch(f"/v1/merchants/{t}", key, {"brand_name": "Mine now"}), "merchant_id"),
        (api.get(f"/v1/merchants/{t}/locations", key), "merchant_id"),
        (api.get(f"/v1/merchants/{t}/locations/{their_loc['id']}", key), "merchant_id"),
        (api.post(f"/v1/merchants/{t}/locations", key, {"name": "x", "mid": "M-2"}), "merchant_id"),
        (api.get(f"/v1/merchants/{mine['id']}/locations/{their_loc['id']}", key), "location_id"),
        (api.get(f"/v1/merchants/{t}/offers", key), "merchant_id"),
        (api.post(f"/v1/merchants/{t}/offers", key, offer_body()), "merchant_id"),
        (api.get(f"/v1/offers/{o}", key), "offer_id"),
        (api.patch(f"/v1/offers/{o}", key, {"rate_bps": 900}), "offer_id"),
        (api.post(f"/v1/offers/{o}/pause", key), "offer_id"),
        (api.post(f"/v1/offers/{o}/end", key), "offer_id"),
    ]
    for resp, field in not_found:
        assert_problem(resp, 404, field, "not-found")
    with api.engine.connect() as conn:
        brand = conn.execute(select(Merchant.brand_name).where(Merchant.id == t)).scalar()
        offer = conn.execute(select(Offer.status, Offer.rate_bps).where(Offer.id == o)).one()
        mids = conn.execute(select(Location.mid).where(Location.merchant_id == t)).scalars().all()
    assert (brand, tuple(offer), mids) == ("Theirs", ("live", 500), ["MID-T-1"])


def test_offer_locations_must_be_the_merchants_own(api):
    mine = create_merchant(api, brand_name="Mine")
    theirs = create_merchant(api, brand_name="Theirs")
    own = create_location(api, merchant_id=mine["id"], mid="MID-M-1")
    other = create_location(api, merchant_id=theirs["id"], mid="MID-T-1")
    body = offer_body(location_ids=[own["id"], other["id"]])
    resp = api.post(f"/v1/merchants/{mine['id']}/offers", api.admin, body)
    assert_problem(resp, 422, "location_ids.1", "unknown_location")
    offer = create_offer(api, merchant_id=mine["id"], location_ids=[own["id"]])
    assert offer["location_ids"] == [own["id"]]


# -- card numbers are refused, stored nowhere, echoed nowhere --------------------------------
def test_a_card_number_in_an_offer_title_is_refused_and_not_stored(api):
    m = create_merchant(api)
    for title in (f"Pay with {PAN}", "4242 4242 4242 4242 deal"):
        resp = api.post(f"/v1/merchants/{m['id']}/offers", api.admin, offer_body(title=title))
        assert_problem(resp, 422, "title", "card_number_not_allowed")
        assert PAN not in resp.text
        assert "4242 4242 4242 4242" not in resp.text
    offer = create_offer(api, merchant_id=m["id"], title="Fine")
    resp = api.patch(f"/v1/offers/{offer['id']}", api.admin, {"title": PAN})
    assert_problem(resp, 422, "title", "card_number_not_allowed")
    assert PAN not in resp.text
    with api.engine.connect() as conn:
        assert conn.execute(select(Offer.title)).scalars().all() == ["Fine"]
    assert_stored_nowhere(api.engine, PAN)


# -- offers: rules and lifecycle --------------------------------------------------------------
def test_offer_rules_across_fields_are_checked(api):
    m = create_merchant(api)
    url = f"/v1/merchants/{m['id']}/offers"
    no_rate = api.post(url, api.admin, offer_body(rate_bps=0))
    assert_problem(no_rate, 422, "rate_bps", "required")
    start = datetime.now(UTC)
    backwards = api.post(url, api.admin, offer_body(starts_at=start, ends_at=iso(start)))
    assert_problem(backwards, 422, "ends_at", "ends_before_start")
    naive = api.post(url, api.admin, offer_body(starts_at=None) | {"starts_at": "2026-01-01T00:00"})
    assert_problem(naive, 422, "starts_at", "timezone_aware")
    mass = api.post(url, api.admin, offer_body(status="live"))
    assert_problem(mass, 422, "status", "extra_forbidden")
    stamp = api.post(url, api.admin, offer_body(kind="stamp_card"))
    assert_problem(stamp, 422, "stamp_every_n", "required")


def test_commission_on_the_reward_stays_below_100_percent(api):
    # On the reward base the merchant pays reward x 10000 / (10000 - bps): at 10000 bps that
    # divides by zero, and one such offer would stop the offer index loading for every event.
    m = create_merchant(api)
    url = f"/v1/merchants/{m['id']}/offers"
    resp = api.post(url, api.admin, offer_body(commission_bps=10_000))
    assert_problem(resp, 422, "commission_bps", "commission_too_high")
    on_spend = create_offer(
        api, merchant_id=m["id"], commission_bps=10_000, commission_base="spend"
    )
    resp = api.patch(f"/v1/offers/{on_spend['id']}", api.admin, {"commission_base": "reward"})
    assert_problem(resp, 422, "commission_bps", "commission_too_high")
    highest = create_offer(api, merchant_id=m["id"], commission_bps=9_999, publish=True)
    assert (highest["status"], highest["commission_bps"]) == ("live", 9_999)


def test_merchant_may_not_set_its_own_commission(api):
    m = create_merchant(api, default_commission_bps=2000)
    key = api.key(Role.MERCHANT, merchant_id=m["id"])
    url = f"/v1/merchants/{m['id']}/offers"
    resp = api.post(url, key, offer_body(commission_bps=0))
    assert_problem(resp, 403, "commission_bps", "admin_only")
    same = api.post(url, key, offer_body(commission_bps=2000))
    assert same.status_code == 201
    draft = create_offer(api, merchant_id=m["id"], headers=key)
    assert (draft["commission_bps"], draft["commission_base"]) == (2000, "reward")
    resp = api.patch(f"/v1/offers/{draft['id']}", key, {"commission_base": "spend"})
    assert_problem(resp, 403, "commission_base", "admin_only")


def test_offer_lifecycle_draft_live_paused_live_ended(api):
    m = create_merchant(api)
    key = api.key(Role.MERCHANT, merchant_id=m["id"])
    offer = create_offer(api, merchant_id=m["id"], headers=key)
    oid = offer["id"]
    assert offer["status"] == "draft"

    def act(action: str):
        return api.post(f"/v1/offers/{oid}/{action}", key)

    assert_problem(act("pause"), 409, "status", "invalid_transition")
    assert_problem(act("resume"), 409, "status", "invalid_transition")
    assert act("publish").json()["status"] == "live"
    assert_problem(act("publish"), 409, "status", "invalid_transition")
    assert_problem(act("resume"), 409, "status", "invalid_transition")
    assert act("pause").json()["status"] == "paused"
    assert_problem(act("pause"), 409, "status", "invalid_transition")
    assert_problem(act("publish"), 409, "status", "invalid_transition")
    assert act("resume").json()["status"] == "live"
    assert act("end").json()["status"] == "ended"
    for action in ("publish", "pause", "resume", "end"):
        assert_problem(act(action), 409, "status", "invalid_transition")
    edit = api.patch(f"/v1/offers/{oid}", key, {"rate_bps": 900})
    assert_problem(edit, 409, "rate_bps", "offer_ended")
    listed = api.get(f"/v1/merchants/{m['id']}/offers?status=ended", key).json()
    assert [o["id"] for o in listed["items"]] == [oid]


def test_an_offer_starting_later_is_scheduled_and_resumes_scheduled(api):
    m = create_merchant(api)
    later = datetime.now(UTC) + timedelta(days=3)
    offer = create_offer(api, merchant_id=m["id"], starts_at=later, publish=True)
    assert offer["status"] == "scheduled"
    url = f"/v1/offers/{offer['id']}"
    assert api.post(f"{url}/pause", api.admin).json()["status"] == "paused"
    assert api.post(f"{url}/resume", api.admin).json()["status"] == "scheduled"


def test_an_offer_whose_window_closed_cannot_be_published(api):
    m = create_merchant(api)
    start = datetime.now(UTC) - timedelta(days=10)
    offer = create_offer(
        api, merchant_id=m["id"], starts_at=start, ends_at=iso(start + timedelta(days=1))
    )
    resp = api.post(f"/v1/offers/{offer['id']}/publish", api.admin)
    assert_problem(resp, 409, "ends_at", "offer_window_closed")


def test_a_draft_changes_freely(api):
    m = create_merchant(api)
    offer = create_offer(api, merchant_id=m["id"], rate_bps=500, min_spend_amount=1_000)
    resp = api.patch(
        f"/v1/offers/{offer['id']}", api.admin, {"rate_bps": 300, "min_spend_amount": 2_000}
    )
    assert resp.status_code == 200, resp.text
    assert (resp.json()["rate_bps"], resp.json()["min_spend_amount"]) == (300, 2_000)


def test_a_live_offer_only_changes_in_the_members_favour(api):
    m = create_merchant(api)
    start = datetime.now(UTC) - timedelta(days=1)
    end = start + timedelta(days=30)
    offer = create_offer(
        api,
        merchant_id=m["id"],
        rate_bps=500,
        min_spend_amount=1_000,
        starts_at=start,
        ends_at=iso(end),
        budget_amount=100_000,
        publish=True,
    )
    assert offer["status"] == "live"
    url = f"/v1/offers/{offer['id']}"
    refused = {
        "rate_bps": 400,  # 5% -> 4%: less cashback
        "min_spend_amount": 1_500,  # $10.00 -> $15.00 minimum
        "ends_at": iso(end - timedelta(days=1)),  # ends sooner
        "budget_amount": 50_000,  # smaller budget
        "max_reward_amount": 100,  # a new cap where there was none
        "starts_at": iso(start + timedelta(days=1)),
        "activation_required": True,
    }
    for name, value in refused.items():
        resp = api.patch(url, api.admin, {name: value})
        assert_problem(resp, 409, name, "live_offer_change_not_allowed")
    assert api.get(url, api.admin).json()["rate_bps"] == 500
    allowed = {
        "rate_bps": 600,  # 5% -> 6%
        "min_spend_amount": 500,
        "ends_at": iso(end + timedelta(days=1)),
        "budget_amount": 200_000,
        "title": "6% back",
    }
    for name, value in allowed.items():
        resp = api.patch(url, api.admin, {name: value})
        assert resp.status_code == 200, (name, resp.text)
    got = api.get(url, api.admin).json()
    assert (got["rate_bps"], got["min_spend_amount"], got["budget_amount"]) == (600, 500, 200_000)
    assert datetime.fromisoformat(got["ends_at"]) == end + timedelta(days=1)
    # Sending a field with its current value is not a change: no conflict.
    same = api.patch(url, api.admin, {"starts_at": iso(start), "rate_bps": 600})
    assert same.status_code == 200, same.text
    unlimited = api.patch(url, api.admin, {"ends_at": None, "budget_amount": None})
    assert (unlimited.json()["ends_at"], unlimited.json()["budget_amount"]) == (None, None)
    null = api.patch(url, api.admin, {"rate_bps": None})
    assert_problem(null, 422, "rate_bps", "null_not_allowed")
