"""Offers, cards and Plaid Items tell the outbox in the transaction of their change:
offer.published and offer.ended, card.linked (first link and a link again after unlinking,
never a repeat registration), plaid_item.relink_required (once per change to it). No
payload fact is a card number, its last four digits or a person's name."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from sqlalchemy import Engine, select

from infra.standins.plaid_standin import PlaidStandin
from service.plaid.sync import sync_all_items
from service.webhooks.payloads import render_event
from settlement.outbox import OutboxEvent
from tests.service.api_client import (
    api_for,
    create_member,
    create_merchant,
    create_offer,
    register_card,
)
from tests.service.plaid_world import link_member, plaid_api, plaid_settings, sdk


def told(engine: Engine) -> list:
    t = OutboxEvent.__table__
    with engine.connect() as conn:
        return list(conn.execute(select(t).order_by(t.c.id)))


def test_publishing_and_ending_an_offer_tell_the_outbox(engine: Engine) -> None:
    with api_for(engine) as api:
        merchant = create_merchant(api)
        offer = create_offer(api, merchant_id=merchant["id"])
        assert told(engine) == []  # a draft is nobody's news
        resp = api.post(f"/v1/offers/{offer['id']}/publish", api.admin)
        assert resp.status_code == 200, resp.text
        api.post(f"/v1/offers/{offer['id']}/pause", api.admin)
        api.post(f"/v1/offers/{offer['id']}/resume", api.admin)  # not published again
        resp = api.post(f"/v1/offers/{offer['id']}/end", api.admin)
        assert resp.status_code == 200, resp.text
    rows = told(engine)
    assert [(r.type, r.offer_id, r.merchant_id) for r in rows] == [
        ("offer.published", offer["id"], merchant["id"]),
        ("offer.ended", offer["id"], merchant["id"]),
    ]
    published = render_event(rows[0])
    assert published["data"]["status"] in ("live", "scheduled")
    assert render_event(rows[1])["data"]["status"] == "ended"


def test_linking_a_card_tells_the_outbox_without_its_number(engine: Engine) -> None:
    with api_for(engine) as api:
        member, _ = create_member(api, display_name="Ada Lovelace")
        card = register_card(api, member_id=member["id"], last4="4242")
        register_card_again = api.post(
            f"/v1/members/{member['id']}/cards",
            api.publisher,
            {
                "provider_token": "tok_1",
                "fingerprint": "fp_1",
                "brand": "visa",
                "last4": "4242",
                "exp_month": 12,
                "exp_year": 2030,
            },
        )
        assert register_card_again.status_code == 200  # the same card: no news
        resp = api.delete(f"/v1/members/{member['id']}/cards/{card['id']}", api.publisher)
        assert resp.status_code == 200, resp.text
        relinked = api.post(
            f"/v1/members/{member['id']}/cards",
            api.publisher,
            {
                "provider_token": "tok_1",
                "fingerprint": "fp_1",
                "brand": "visa",
                "last4": "4242",
            },
        )
        assert relinked.status_code == 200, relinked.text
    rows = told(engine)
    assert [(r.type, r.member_id) for r in rows] == [("card.linked", member["id"])] * 2
    payload = render_event(rows[0])
    assert payload["data"] == {
        "occurred_at": payload["data"]["occurred_at"],
        "member_id": member["id"],
        "card_id": card["id"],
        "provider": card["provider"],
        "brand": "visa",
    }
    raw = json.dumps([dict(r._mapping) for r in rows], default=str)
    assert "4242" not in raw and "Ada" not in raw


def test_an_item_needing_a_new_login_tells_the_outbox_once(
    engine: Engine, standin: PlaidStandin
) -> None:
    settings = plaid_settings(standin)
    with plaid_api(engine, settings) as api:
        linked = link_member(api, settings)
    client = sdk(settings)
    before = {r.type for r in told(engine)}
    assert before == {"card.linked"}  # Plaid Link made the member's cards
    standin.require_login(linked.item_ref)
    now = datetime.now(UTC)
    sync_all_items(engine, client, now, settings=settings)
    sync_all_items(engine, client, now, settings=settings)  # skipped: already waiting
    rows = [r for r in told(engine) if r.type == "plaid_item.relink_required"]
    assert [(r.member_id, json.loads(r.data)) for r in rows] == [
        (linked.member_id, {"error_code": "ITEM_LOGIN_REQUIRED", "plaid_item_id": linked.item_id})
    ]
