"""A merchant is billed by emailed invoice (Stripe's `send_invoice` needs the customer's
email), so an offer cannot go live before its merchant has a billing email."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Engine

from tests.service.api_client import Api, api_for, assert_problem, create_merchant, create_offer


@pytest.fixture
def api(engine: Engine) -> Iterator[Api]:
    with api_for(engine) as a:
        yield a


def test_publishing_needs_the_merchants_billing_email(api: Api) -> None:
    merchant = create_merchant(api, billing_email=None)
    assert merchant["billing_email"] is None
    offer = create_offer(api, merchant_id=merchant["id"])
    url = f"/v1/offers/{offer['id']}/publish"
    assert_problem(api.post(url, api.admin), 409, "billing_email", "billing_email_required")
    bad = api.patch(f"/v1/merchants/{merchant['id']}", api.admin, {"billing_email": "nobody"})
    assert bad.status_code == 422
    fixed = api.patch(
        f"/v1/merchants/{merchant['id']}", api.admin, {"billing_email": "ap@bluebottle.example"}
    )
    assert fixed.json()["billing_email"] == "ap@bluebottle.example"
    assert api.post(url, api.admin).json()["status"] in ("live", "scheduled")
