"""A rejected run is not the end of its period: finance re-opens it as attempt 2, which is
settled, billed and paid once; attempt 1 keeps its statements and decisions."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import Engine

from infra.standins.stripe_standin import StripeStandin
from service.auth import Role
from service.config import Settings
from tests.service.api_client import FEED_KEYS, Api, assert_problem, bearer, issue_key
from tests.settlement.settle_world import SETTLED_AT, SettleWorld, build_world, link_payout_accounts


@pytest.fixture
def world(engine: Engine) -> Iterator[SettleWorld]:
    from fastapi.testclient import TestClient

    from service.app import create_app

    sw = build_world(engine, events=600, members=12)
    settings = Settings(environment="test", feed_signing_keys=FEED_KEYS)
    with StripeStandin() as stripe, TestClient(create_app(engine=engine, settings=settings)) as c:
        link_payout_accounts(sw, stripe)
        sw.api = Api(  # type: ignore[attr-defined]
            client=c,
            engine=engine,
            admin=bearer(issue_key(engine, role=Role.ADMIN)),
            publisher=bearer(issue_key(engine, role=Role.PUBLISHER)),
            finance=bearer(issue_key(engine, role=Role.FINANCE)),
        )
        yield sw


def test_a_rejected_run_is_reopened_as_the_next_attempt_and_bills_once(world: Any) -> None:
    api: Api = world.api
    stripe: StripeStandin = world.stripe
    assert world.runner(auto_below=1).settle(world.period, SETTLED_AT).status == "awaiting_approval"
    (first,) = api.get("/v1/settlements/runs", api.finance).json()["items"]
    assert first["attempt"] == 1
    url = f"/v1/settlements/runs/{first['id']}"
    not_yet = api.post(f"{url}/reopen", api.finance, {"reason": "too early"})
    assert_problem(not_yet, 409, "run_id", "not_reopenable")
    api.post(f"{url}/reject", api.finance, {"reason": "commission set wrong on offer 3"})
    assert world.runner(auto_below=1).settle(world.period, SETTLED_AT).status == "rejected"
    assert_problem(api.post(f"{url}/reopen", api.finance, {}), 422, "reason", "missing")

    resp = api.post(f"{url}/reopen", api.finance, {"reason": "offer 3 corrected"})
    assert resp.status_code == 201, resp.text
    second = resp.json()
    assert (second["attempt"], second["previous_run_id"], second["status"]) == (
        2,
        first["id"],
        "open",
    )
    again = api.post(f"{url}/reopen", api.finance, {"reason": "twice"})
    assert_problem(again, 409, "run_id", "not_reopenable")
    trail = api.get(url, api.finance).json()
    assert [d["decision"] for d in trail["decisions"]] == ["rejected", "reopened"]
    assert trail["status"] == "rejected"

    # The scheduler settles the period: it works on attempt 2, attempt 1 stays as it was.
    outcome = world.runner(auto_below=10**12).settle(world.period, SETTLED_AT)
    assert (outcome.run_id, outcome.status) == (second["id"], "closed")
    assert world.runner().settle(world.period, SETTLED_AT).status == "closed"  # nothing more
    invoices = stripe.objects("invoice")
    assert invoices and all(f"clo-run{second['id']}-" in i["metadata"]["clo_key"] for i in invoices)
    assert len({i["customer"] for i in invoices}) == len(invoices)  # one per merchant
    transfers = stripe.objects("transfer")
    assert len({t["destination"] for t in transfers}) == len(transfers)  # one per member
    first_statements = api.get(f"{url}/statements", api.finance).json()
    second_statements = api.get(
        f"/v1/settlements/runs/{second['id']}/statements", api.finance
    ).json()
    assert first_statements == second_statements  # the same period, computed again
