"""The ledger as finance sees it: accounts with balances filtered by owner and kind, an
account's entries paged with their postings, a card event found by the feed's own id; only
finance and admins see any of it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Engine

from service.auth import Role
from tests.service.api_client import (
    Api,
    api_for,
    assert_problem,
    card_event,
    create_location,
    create_member,
    create_merchant,
    create_offer,
    push_events,
    register_card,
)


@pytest.fixture
def api(engine: Engine) -> Iterator[Api]:
    with api_for(engine) as a:
        yield a


def _cleared_purchase(api: Api) -> tuple[dict, dict, dict]:
    """A cleared $40.00 purchase on a 5% offer with 20% commission on the reward."""
    merchant = create_merchant(api, default_commission_bps=2000)
    create_location(api, merchant_id=merchant["id"], mid="MID-BB-1")
    create_offer(api, merchant_id=merchant["id"], publish=True, rate_bps=500)
    member, _ = create_member(api)
    card = register_card(api, member_id=member["id"])
    push_events(
        api,
        card_event(card_id=card["id"], amount=4_000, kind="clearing", external_id="net-4000"),
    )
    return merchant, member, card


def test_a_cleared_purchase_shows_in_the_accounts_and_their_entries(api: Api) -> None:
    merchant, member, _ = _cleared_purchase(api)
    resp = api.get("/v1/ledger/accounts?owner_type=merchant", api.finance)
    assert resp.status_code == 200, resp.text
    (receivable,) = resp.json()["items"]
    assert (receivable["owner_id"], receivable["kind"]) == (merchant["id"], "merchant_receivable")
    assert receivable["posted_amount"] == -250  # the merchant owes 2.50

    mine = api.get(f"/v1/ledger/accounts?owner_type=member&owner_id={member['id']}", api.admin)
    balances = {a["kind"]: a["posted_amount"] for a in mine.json()["items"]}
    assert sum(balances.values()) == 200  # the member earned 2.00 (5% of 40.00)
    revenue = api.get("/v1/ledger/accounts?kind=platform_revenue", api.finance).json()["items"]
    assert [a["posted_amount"] for a in revenue] == [50]  # the platform keeps 0.50

    entries = api.get(f"/v1/ledger/accounts/{receivable['id']}/entries", api.finance).json()
    (entry,) = entries["items"]
    assert entries["next_cursor"] is None
    assert entry["kind"] == "accrual" and entry["status"] == "posted"
    amounts = sorted(p["amount"] for p in entry["postings"])
    assert amounts == [-250, 50, 200] and sum(amounts) == 0


def test_entries_page_by_entry_id(api: Api) -> None:
    _cleared_purchase(api)
    revenue = api.get("/v1/ledger/accounts?kind=platform_revenue", api.finance).json()["items"]
    url = f"/v1/ledger/accounts/{revenue[0]['id']}/entries?limit=1"
    first = api.get(url, api.finance).json()
    assert len(first["items"]) == 1 and first["next_cursor"] is None
    missing = api.get("/v1/ledger/accounts/999999/entries", api.finance)
    assert_problem(missing, 404, "account_id", "not-found")
    bad = api.get("/v1/ledger/accounts?kind=nonsense", api.finance)
    assert bad.status_code == 422


def test_a_card_event_is_found_by_the_feeds_own_id(api: Api) -> None:
    _, member, card = _cleared_purchase(api)
    found = api.get("/v1/card-events?external_id=net-4000&source=network", api.finance)
    assert found.status_code == 200, found.text
    event = found.json()
    assert (event["card_id"], event["member_id"], event["amount"]) == (
        card["id"],
        member["id"],
        4_000,
    )
    assert event["outcome"] == "rewarded"
    other_source = api.get("/v1/card-events?external_id=net-4000&source=file", api.finance)
    assert_problem(other_source, 404, "external_id", "not-found")


def test_only_finance_and_admins_see_the_ledger(api: Api) -> None:
    merchant, _member, _ = _cleared_purchase(api)
    _, member_token = create_member(api, display_name="Bob")
    merchant_key = api.key(Role.MERCHANT, merchant_id=merchant["id"])
    for headers in (member_token, merchant_key, api.publisher):
        for path in (
            "/v1/ledger/accounts",
            "/v1/ledger/accounts/1/entries",
            "/v1/card-events?external_id=net-4000&source=network",
        ):
            assert_problem(api.get(path, headers), 403, "Authorization", "role_not_allowed")
