"""Money in minor units and rates in basis points are integers on the way in: 1000.0 is refused
like 10.5, with a 422 problem naming the field and `integer_required`, on every /v1 request
body that takes one. Worked example: an offer of 5% (rate_bps 500) with a $1,000.00 budget
(budget_amount 100000) is accepted as integers and refused as 500.0 or 100000.0."""

from __future__ import annotations

import pytest

from service.auth import Role
from tests.service.api_client import Api, api_for, assert_problem, create_merchant, offer_body


@pytest.fixture
def api(engine):
    with api_for(engine) as api:
        yield api


def test_integers_are_taken(api: Api) -> None:
    merchant = create_merchant(api)
    body = offer_body(rate_bps=500, budget_amount=100_000, max_reward_amount=2_000)
    resp = api.post(f"/v1/merchants/{merchant['id']}/offers", api.admin, body)
    assert resp.status_code == 201, resp.text
    offer = resp.json()
    assert (offer["rate_bps"], offer["budget_amount"], offer["max_reward_amount"]) == (
        500,
        100_000,
        2_000,
    )


@pytest.mark.parametrize(
    "field",
    [
        "rate_bps",
        "reward_amount",
        "max_reward_amount",
        "min_spend_amount",
        "member_max_reward_amount",
        "budget_amount",
        "threshold_amount",
        "commission_bps",
        "birthday_bonus_bps",
        "holdout_bps",
    ],
)
def test_offer_money_fields_refuse_whole_floats(api: Api, field: str) -> None:
    value = 1000.0
    merchant = create_merchant(api)
    path = f"/v1/merchants/{merchant['id']}/offers"
    resp = api.post(path, api.admin, {**offer_body(), field: value})
    assert_problem(resp, 422, field, "integer_required")
    offer = api.post(path, api.admin, offer_body()).json()
    patched = api.patch(f"/v1/offers/{offer['id']}", api.admin, {field: value})
    assert_problem(patched, 422, field, "integer_required")


def test_fractions_strings_and_booleans_are_refused_too(api: Api) -> None:
    merchant = create_merchant(api)
    for value in (10.5, "500", True):
        resp = api.post(
            f"/v1/merchants/{merchant['id']}/offers", api.admin, {**offer_body(), "rate_bps": value}
        )
        assert_problem(resp, 422, "rate_bps", "integer_required")


def test_nested_and_merchant_rates_refuse_floats(api: Api) -> None:
    merchant = create_merchant(api)
    window = {"weekdays": [0], "start_minute": 0, "end_minute": 60, "multiplier_bps": 20000.0}
    resp = api.post(
        f"/v1/merchants/{merchant['id']}/offers", api.admin, offer_body(bonus_windows=[window])
    )
    assert_problem(resp, 422, "bonus_windows.0.multiplier_bps", "integer_required")
    resp = api.patch(f"/v1/merchants/{merchant['id']}", api.admin, {"default_commission_bps": 2e3})
    assert_problem(resp, 422, "default_commission_bps", "integer_required")
    resp = api.post(
        "/v1/merchants",
        api.admin,
        {"brand_name": "Floaty", "timezone": "UTC", "currency": "USD",
         "default_commission_bps": 1500.0},
    )  # fmt: skip
    assert_problem(resp, 422, "default_commission_bps", "integer_required")


def test_a_donation_of_1000_0_is_refused(api: Api) -> None:
    member = api.post("/v1/members", api.publisher, {"display_name": "Ada"}).json()["member"]
    token = api.key(Role.MEMBER, member_id=member["id"])
    charity = api.post("/v1/charities", api.admin, {"name": "Food Bank"}).json()
    body = {"charity_id": charity["id"], "amount": 1000.0, "currency": "USD"}
    headers = {**token, "Idempotency-Key": "donation-1"}
    resp = api.post(f"/v1/members/{member['id']}/donations", headers, body)
    problem = assert_problem(resp, 422, "amount", "integer_required")
    assert "float" in problem["errors"][0]["message"]
