"""The /v1 API for members, cards, activations, balances, activity and explanations."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, event, select, update
from sqlmodel import Session

from service.app import create_app
from service.auth import Role
from service.cards import service as card_service
from service.cards.schemas import CardCreate
from service.config import Settings
from service.members import service as member_service
from service.tables import ApiCredential, Card, Member, Offer, RejectedEvent
from tests.balances import balances
from tests.service.api_client import (
    PAN,
    api_for,
    assert_problem,
    assert_stored_nowhere,
    bearer,
    card_body,
    card_event,
    create_location,
    create_member,
    create_merchant,
    create_offer,
    in_own_session,
    issue_key,
    noting_responses,
    push_events,
    register_card,
)


@pytest.fixture
def api(engine):
    with api_for(engine) as a:
        yield a


# -- members ---------------------------------------------------------------------------------
def test_publisher_signs_up_a_member_and_gets_a_member_token(api):
    member, token = create_member(api, display_name="Ada", external_ref="pub-1", birth_month=3)
    assert (member["display_name"], member["external_ref"], member["tier"]) == ("Ada", "pub-1", 0)
    mid = member["id"]
    assert api.get(f"/v1/members/{mid}", token).json() == member
    assert api.get(f"/v1/members/{mid}", api.publisher).json() == member
    assert api.get(f"/v1/members/{mid}", api.finance).status_code == 200
    again = api.post("/v1/members", api.publisher, {"external_ref": "pub-1"})
    assert_problem(again, 409, "external_ref", "duplicate")
    with api.engine.connect() as conn:
        cred = conn.execute(select(ApiCredential).where(ApiCredential.member_id == mid)).one()
    assert cred.role == "member"
    assert token["Authorization"].split(".", 1)[1] not in cred.secret_sha256  # only a hash


@pytest.mark.parametrize(
    ("body", "field", "reason"),
    [
        ({"display_name": "Ada", "tier_bonus": 1}, "tier_bonus", "extra_forbidden"),
        ({"display_name": "Ada", "balance": 10_000}, "balance", "extra_forbidden"),
        ({"display_name": "Ada", "id": 1}, "id", "extra_forbidden"),
        ({"email": "not-an-email"}, "email", "string_pattern_mismatch"),
        ({"birth_month": 13}, "birth_month", "less_than_equal"),
        ({"display_name": 5}, "display_name", "string_type"),
    ],
)
def test_bad_member_bodies_name_the_field(api, body, field, reason):
    assert_problem(api.post("/v1/members", api.publisher, body), 422, field, reason)


def test_member_endpoints_check_role_and_credential(api):
    member, token = create_member(api)
    m = create_merchant(api)
    merchant_key = api.key(Role.MERCHANT, merchant_id=m["id"])
    for headers in (token, merchant_key, api.finance):
        resp = api.post("/v1/members", headers, {"display_name": "x"})
        assert_problem(resp, 403, "Authorization", "role_not_allowed")
    resp = api.get(f"/v1/members/{member['id']}/balance", merchant_key)
    assert_problem(resp, 403, "Authorization", "role_not_allowed")
    url = f"/v1/members/{member['id']}"
    assert_problem(api.get(url, {}), 401, "Authorization", "missing_credential")
    bad = {"Authorization": "Bearer mt_0123456789abcdef.nope"}
    assert_problem(api.get(url, bad), 401, "Authorization", "invalid_credential")


def test_a_member_token_sees_only_its_own_member(api):
    ada, ada_token = create_member(api, display_name="Ada")
    bob, _ = create_member(api, display_name="Bob")
    card = register_card(api, member_id=bob["id"])
    b = bob["id"]
    for path in ("", "/balance", "/activity", "/cards", "/activations"):
        resp = api.get(f"/v1/members/{b}{path}", ada_token)
        assert_problem(resp, 404, "member_id", "not-found")
    resp = api.delete(f"/v1/members/{b}/cards/{card['id']}", ada_token)
    assert_problem(resp, 404, "member_id", "not-found")
    resp = api.delete(f"/v1/members/{ada['id']}/cards/{card['id']}", ada_token)
    assert_problem(resp, 404, "card_id", "not-found")
    with api.engine.connect() as conn:
        assert conn.execute(select(Card.status).where(Card.id == card["id"])).scalar() == "active"


def test_the_unit_of_work_commits_before_the_response_is_sent(engine: Engine) -> None:
    # A publisher that got a member token back may use it at once, from any API worker; and a
    # failing commit must be the response, not a write lost after a 201.
    order: list[str] = []
    app = noting_responses(create_app(engine=engine, settings=Settings(environment="test")), order)
    publisher = bearer(issue_key(engine, role=Role.PUBLISHER))
    event.listen(engine, "commit", lambda _conn: order.append("commit"))
    with TestClient(app) as client:
        resp = client.post("/v1/members", headers=publisher, json={"display_name": "Ada"})
        assert resp.status_code == 201
        assert order == ["commit", "response"]
        order.clear()
        refused = client.post("/v1/members", headers=publisher, json={"tier": -1})
        assert refused.status_code == 422
        assert order == ["response"]  # nothing to commit: the request was rolled back


def test_a_card_number_in_display_name_is_refused_and_stored_nowhere(api):
    for name in (PAN, f"Ada {PAN}", "Ada 4242-4242-4242-4242"):
        resp = api.post("/v1/members", api.publisher, {"display_name": name, "external_ref": "r"})
        assert_problem(resp, 422, "display_name", "card_number_not_allowed")
        assert "4242" not in resp.text
    member, token = create_member(api, display_name="Ada")
    resp = api.post(f"/v1/members/{member['id']}/activations", token, {"offer_id": PAN})
    assert_problem(resp, 422, "offer_id", "card_number_not_allowed")
    assert PAN not in resp.text
    with api.engine.connect() as conn:
        members = conn.execute(select(Member.display_name, Member.external_ref)).all()
    assert [tuple(m) for m in members] == [("Ada", None)]
    assert_stored_nowhere(api.engine, PAN)


def test_a_card_number_sent_as_a_card_token_or_fingerprint_is_refused(api):
    member, _ = create_member(api, display_name="Ada")
    for field in ("provider_token", "fingerprint"):
        body = card_body(**{field: PAN})
        resp = api.post(f"/v1/members/{member['id']}/cards", api.publisher, body)
        assert_problem(resp, 422, field, "card_number_not_allowed")
        assert PAN not in resp.text
    resp = api.post("/v1/members", api.publisher, {"external_ref": PAN})
    assert_problem(resp, 422, "external_ref", "card_number_not_allowed")
    assert_stored_nowhere(api.engine, PAN)


# -- cards -----------------------------------------------------------------------------------
def test_card_registration_is_idempotent_and_one_card_has_one_member(api):
    ada, ada_token = create_member(api, display_name="Ada")
    bob, _ = create_member(api, display_name="Bob")
    first = register_card(api, member_id=ada["id"], fingerprint="fp-A", provider_token="tok-A")
    assert (first["member_id"], first["last4"], first["status"]) == (ada["id"], "4242", "active")
    assert "provider_token" not in first and "fingerprint" not in first

    def post_card(member_id: int, fingerprint: str, provider_token: str):
        body = card_body(fingerprint=fingerprint, provider_token=provider_token)
        return api.post(f"/v1/members/{member_id}/cards", api.publisher, body)

    again = post_card(ada["id"], "fp-A", "tok-A")
    assert (again.status_code, again.json()) == (200, first)
    theirs = post_card(bob["id"], "fp-A", "tok-B")
    assert_problem(theirs, 409, "fingerprint", "card_belongs_to_another_member")
    token_reused = post_card(bob["id"], "fp-B", "tok-A")
    assert_problem(token_reused, 409, "provider_token", "duplicate")
    listed = api.get(f"/v1/members/{ada['id']}/cards", ada_token).json()["items"]
    assert [c["id"] for c in listed] == [first["id"]]
    assert api.get(f"/v1/members/{bob['id']}/cards", api.publisher).json()["items"] == []


@pytest.mark.parametrize(
    ("change", "field", "reason"),
    [
        ({"status": "active"}, "status", "extra_forbidden"),
        ({"member_id": 2}, "member_id", "extra_forbidden"),
        ({"number": PAN}, "number", "card_number_not_allowed"),
        ({"last4": "42a2"}, "last4", "string_pattern_mismatch"),
        ({"brand": "visa electron"}, "brand", "literal_error"),
        ({"exp_month": 13}, "exp_month", "less_than_equal"),
        ({"fingerprint": ""}, "fingerprint", "string_too_short"),
    ],
)
def test_bad_card_bodies_name_the_field(api, change, field, reason):
    member, _ = create_member(api)
    body = card_body() | change
    resp = api.post(f"/v1/members/{member['id']}/cards", api.publisher, body)
    assert_problem(resp, 422, field, reason)
    assert PAN not in resp.text


def test_only_a_publisher_registers_cards(api):
    member, token = create_member(api)
    resp = api.post(f"/v1/members/{member['id']}/cards", token, card_body())
    assert_problem(resp, 403, "Authorization", "role_not_allowed")
    resp = api.post("/v1/members/999/cards", api.publisher, card_body())
    assert_problem(resp, 404, "member_id", "not-found")


def test_unlinking_a_card_keeps_it_listed_and_linking_again_restores_it(api):
    member, token = create_member(api)
    card = register_card(api, member_id=member["id"])
    resp = api.delete(f"/v1/members/{member['id']}/cards/{card['id']}", token)
    assert resp.status_code == 200, resp.text
    assert resp.json()["status"] == "unlinked"
    assert resp.json()["unlinked_at"] is not None
    listed = api.get(f"/v1/members/{member['id']}/cards", token).json()["items"]
    assert [(c["id"], c["status"]) for c in listed] == [(card["id"], "unlinked")]
    again = api.post(f"/v1/members/{member['id']}/cards", api.publisher, card_body())
    assert again.status_code == 200
    assert (again.json()["id"], again.json()["status"]) == (card["id"], "active")


# -- activations -----------------------------------------------------------------------------
def test_activating_twice_returns_the_first_activation(api):
    m = create_merchant(api)
    offer = create_offer(api, merchant_id=m["id"], activation_required=True, publish=True)
    member, token = create_member(api)
    url = f"/v1/members/{member['id']}/activations"
    first = api.post(url, token, {"offer_id": offer["id"]})
    assert first.status_code == 201, first.text
    again = api.post(url, token, {"offer_id": offer["id"]})
    assert again.status_code == 200
    assert again.json() == first.json()
    first_at = datetime.fromisoformat(first.json()["activated_at"])
    assert datetime.fromisoformat(again.json()["activated_at"]) == first_at
    listed = api.get(url, token).json()["items"]
    assert [a["offer_id"] for a in listed] == [offer["id"]]
    shown = api.get(f"/v1/offers?member_id={member['id']}", api.publisher).json()["items"]
    assert [(o["id"], o["activated"]) for o in shown] == [(offer["id"], True)]


@pytest.mark.parametrize("what", ["activation", "card"])
def test_a_concurrent_repeat_returns_the_first(api, what):
    # A double tap: the second request reaches its insert while the first is uncommitted.
    m = create_merchant(api)
    offer = create_offer(api, merchant_id=m["id"], publish=True)
    member, _ = create_member(api)
    now = datetime.now(UTC)

    def work(session):
        row = session.get(Member, member["id"])
        if what == "activation":
            out, created = member_service.activate(session, row, offer["id"], now=now)
            return out.model_dump(), created
        card, created = card_service.register_card(
            session, row, CardCreate(**card_body()), provider="publisher", now=now
        )
        return card.id, created

    with Session(api.engine) as first_session, ThreadPoolExecutor(1) as pool:
        first = work(first_session)
        second = pool.submit(in_own_session, api.engine, work)
        time.sleep(0.5)  # the second now waits on the first's uncommitted row (or lock)
        first_session.commit()
        assert second.result(timeout=60) == (first[0], False)
    assert first[1] is True


def test_only_open_offers_can_be_activated(api):
    m = create_merchant(api)
    draft = create_offer(api, merchant_id=m["id"])
    member, token = create_member(api)
    url = f"/v1/members/{member['id']}/activations"
    for offer_id in (draft["id"], 999):
        assert_problem(api.post(url, token, {"offer_id": offer_id}), 404, "offer_id", "not-found")
    resp = api.post(url, token, {"offer_id": draft["id"], "activated_at": "2020-01-01T00:00Z"})
    assert_problem(resp, 422, "activated_at", "extra_forbidden")
    # A live offer past its end is as closed as it looks in GET /v1/offers.
    ended = create_offer(api, merchant_id=m["id"], publish=True)
    with api.engine.begin() as conn:
        past = datetime.now(UTC) - timedelta(minutes=1)
        conn.execute(update(Offer).where(Offer.id == ended["id"]).values(ends_at=past))
    assert_problem(api.post(url, token, {"offer_id": ended["id"]}), 404, "offer_id", "not-found")
    assert api.get("/v1/offers", token).json()["items"] == []


def test_a_held_out_member_never_finds_the_offer(api):
    m = create_merchant(api)
    offer = create_offer(api, merchant_id=m["id"], publish=True)
    # The API caps holdouts at half the members; the whole audience held out is set directly.
    with api.engine.begin() as conn:
        conn.execute(update(Offer).where(Offer.id == offer["id"]).values(holdout_bps=10_000))
    member, token = create_member(api)
    resp = api.post(f"/v1/members/{member['id']}/activations", token, {"offer_id": offer["id"]})
    assert_problem(resp, 404, "offer_id", "not-found")
    assert api.get("/v1/offers", token).json()["items"] == []


# -- balances, activity, explanations: one purchase end to end -------------------------------
def test_a_purchase_earns_cashback_shown_in_balance_activity_and_explanation(api):
    merchant = create_merchant(api, brand_name="Blue Bottle", default_commission_bps=0)
    create_location(api, merchant_id=merchant["id"], mid="MID-BB-1")
    offer = create_offer(
        api,
        merchant_id=merchant["id"],
        title="5% back",
        rate_bps=500,
        commission_bps=2000,
        commission_base="reward",
        publish=True,
    )
    assert (offer["status"], offer["commission_bps"]) == ("live", 2000)
    member, token = create_member(api)
    card = register_card(api, member_id=member["id"])
    url = f"/v1/members/{member['id']}"

    # The auth of a $40.00 purchase at the MID: 5% of 4,000 = 200 pending for the member.
    [auth] = push_events(api, card_event(card_id=card["id"], amount=4_000, external_id="a1"))[
        "results"
    ]
    assert (auth["outcome"], auth["reward_amount"]) == ("rewarded", 200)
    pending = dict(currency="USD", pending_amount=200, available_amount=0, recovery_amount=0)
    pending["lifetime_amount"] = 0  # earned on cleared purchases only
    assert api.get(f"{url}/balance", token).json() == {
        "member_id": member["id"],
        "balances": [pending],
    }
    [item] = api.get(f"{url}/activity", token).json()["items"]
    assert (item["event_id"], item["kind"], item["amount"]) == (auth["event_id"], "auth", 4_000)
    assert (item["merchant"], item["outcome"], item["reason"]) == ("Blue Bottle", "rewarded", None)
    assert (item["reward"]["state"], item["reward"]["reward_amount"]) == ("authorized", 200)
    explanation = api.get(f"/v1/card-events/{auth['event_id']}/explanation", token).json()
    assert (explanation["outcome"], explanation["kind"]) == ("rewarded", "auth")
    [candidate] = explanation["candidates"]
    assert candidate == {"offer_id": offer["id"], "offer_title": "5% back", "outcome": "won",
                         "reason": "qualified", "reward_amount": 200}  # fmt: skip

    # The clearing posts it: still 200 pending (not yet matured), now also earned for life.
    clearing = card_event(
        card_id=card["id"], amount=4_000, kind="clearing", external_id="c1",
        original_external_id="a1",
    )  # fmt: skip
    push_events(api, clearing)
    balance = api.get(f"{url}/balance", token).json()
    assert balance["balances"] == [pending | {"lifetime_amount": 200}]
    # 20% commission on the reward: the merchant owes 200 * 10000 / (10000 - 2000) = 250,
    # of which the platform keeps 250 - 200 = 50.
    accounts = {code: posted for code, (posted, _) in balances(api.engine).items()}
    assert accounts == {
        f"merchant:{merchant['id']}:receivable:USD": -250,
        f"member:{member['id']}:pending:USD": 200,
        "platform:revenue:USD": 50,
    }
    items = api.get(f"{url}/activity", token).json()["items"]
    assert [(i["kind"], i["outcome"], i["reward"]["state"]) for i in items] == [
        ("clearing", "rewarded", "cleared"),
        ("auth", "rewarded", "cleared"),
    ]


def test_another_members_event_and_another_merchants_event_are_not_found(api):
    merchant = create_merchant(api)
    other = create_merchant(api, brand_name="Other")
    create_location(api, merchant_id=merchant["id"], mid="MID-BB-1")
    create_offer(api, merchant_id=merchant["id"], publish=True)
    member, _ = create_member(api)
    _, stranger = create_member(api, display_name="Eve")
    card = register_card(api, member_id=member["id"])
    [result] = push_events(api, card_event(card_id=card["id"], external_id="a1"))["results"]
    url = f"/v1/card-events/{result['event_id']}/explanation"
    assert_problem(api.get(url, stranger), 404, "event_id", "not-found")
    other_key = api.key(Role.MERCHANT, merchant_id=other["id"])
    assert_problem(api.get(url, other_key), 404, "event_id", "not-found")
    own_key = api.key(Role.MERCHANT, merchant_id=merchant["id"])
    assert api.get(url, own_key).json()["candidates"][0]["outcome"] == "won"
    assert_problem(api.get("/v1/card-events/0/explanation", own_key), 422, "event_id",
                   "greater_than_equal")  # fmt: skip


def test_a_nul_character_in_one_event_rejects_only_that_event(api):
    merchant = create_merchant(api)
    create_location(api, merchant_id=merchant["id"], mid="MID-BB-1")
    create_offer(api, merchant_id=merchant["id"], publish=True)
    member, token = create_member(api)
    card = register_card(api, member_id=member["id"])
    bad = card_event(card_id=card["id"], external_id="bad") | {"descriptor": "BLUE\u0000BOTTLE"}
    good = card_event(card_id=card["id"], external_id="good")
    body = push_events(api, bad, good)
    assert (body["accepted"], body["rejected"]) == (1, 1)
    assert (body["results"][0]["reason"], body["results"][0]["field"]) == (
        "nul_character",
        "descriptor",
    )
    assert (body["results"][1]["outcome"], body["results"][1]["reward_amount"]) == ("rewarded", 200)
    with api.engine.connect() as conn:
        assert conn.execute(select(RejectedEvent.reason)).scalars().all() == ["nul_character"]
    items = api.get(f"/v1/members/{member['id']}/activity", token).json()["items"]
    assert [i["amount"] for i in items] == [4_000]


def test_activity_pages_newest_first(api):
    merchant = create_merchant(api)
    create_location(api, merchant_id=merchant["id"], mid="MID-BB-1")
    member, token = create_member(api)
    card = register_card(api, member_id=member["id"])
    now = datetime.now().astimezone()
    events = [
        card_event(card_id=card["id"], external_id=f"e{i}", amount=1_000 + i,
                   occurred_at=now - timedelta(hours=5 - i))
        for i in range(3)
    ]  # fmt: skip
    push_events(api, *events)
    url = f"/v1/members/{member['id']}/activity"
    page = api.get(f"{url}?limit=2", token).json()
    assert [i["amount"] for i in page["items"]] == [1_002, 1_001]
    assert [i["outcome"] for i in page["items"]] == ["no_offer", "no_offer"]
    rest = api.get(f"{url}?limit=2&before_id={page['next_cursor']}", token).json()
    assert ([i["amount"] for i in rest["items"]], rest["next_cursor"]) == ([1_000], None)
    assert_problem(api.get(f"{url}?limit=0", token), 422, "limit", "greater_than_equal")
