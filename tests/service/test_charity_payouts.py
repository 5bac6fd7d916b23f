"""Charity payables are paid out by their own settlement step: what members donated goes to
each charity's Connect account, and the ledger's charity payable goes to zero.

Worked example: a member donates 150 to the Food Bank (a connected account) and 70 to the
Shelter (none yet). The run transfers 150 to the Food Bank: its payable goes 150 -> 0 and
150 of platform cash goes out (+150 in the ledger's sign: what the platform owes is
positive); the Shelter's 70 waits in its payable. A Food Bank account that cannot
take transfers gets nothing and the 150 goes back to its payable for the next run.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import Engine, select
from sqlmodel import col

from infra.standins.stripe_standin import StripeStandin
from service.auth import Role
from service.config import Settings
from settlement.ledger.accounts import AccountKind, account_code
from settlement.ledger.check import check_ledger
from settlement.runs.tables import CharityPayout
from settlement.tables import LedgerAccount
from tests.service.api_client import FEED_KEYS, Api, bearer, issue_key
from tests.settlement.settle_world import SETTLED_AT, SettleWorld, build_world, link_payout_accounts


@pytest.fixture
def world(engine: Engine) -> Iterator[Any]:
    from fastapi.testclient import TestClient

    from service.app import create_app

    sw: Any = build_world(engine, events=600, members=12)
    settings = Settings(environment="test", feed_signing_keys=FEED_KEYS)
    with StripeStandin() as stripe, TestClient(create_app(engine=engine, settings=settings)) as c:
        link_payout_accounts(sw, stripe)
        sw.api = Api(
            client=c,
            engine=engine,
            admin=bearer(issue_key(engine, role=Role.ADMIN)),
            publisher=bearer(issue_key(engine, role=Role.PUBLISHER)),
            finance=bearer(issue_key(engine, role=Role.FINANCE)),
        )
        yield sw


def _posted(engine: Engine, code: str) -> int:
    with engine.connect() as conn:
        value = conn.execute(
            select(col(LedgerAccount.posted_amount)).where(col(LedgerAccount.code) == code)
        ).scalar_one_or_none()
    return int(value or 0)


def _donate(world: Any, *, capability: str) -> tuple[dict[str, Any], dict[str, Any]]:
    sw: SettleWorld = world
    api: Api = world.api
    assert sw.stripe is not None
    sw.runner(minimum=10**9).settle(sw.period, SETTLED_AT)  # matured, nobody paid
    client = sw.stripe.client(max_network_retries=0)
    account = client.v1.accounts.create({"type": "express", "country": "US"})
    sw.stripe.set_capability(account.id, "transfers", capability)
    food = api.post(
        "/v1/charities", api.admin, {"name": "Food Bank", "stripe_account_id": account.id}
    ).json()
    shelter = api.post("/v1/charities", api.admin, {"name": "Shelter"}).json()
    member_id = sw.world.member_ids[0]
    member = api.key(Role.MEMBER, member_id=member_id)
    for charity, amount, key in ((food, 150, "d-food"), (shelter, 70, "d-shelter")):
        body = {"charity_id": charity["id"], "amount": amount, "currency": "USD"}
        resp = api.post(
            f"/v1/members/{member_id}/donations", {**member, "Idempotency-Key": key}, body
        )
        assert resp.status_code == 201, resp.text
    return food, shelter


def test_donations_are_paid_to_the_charitys_account(world: Any) -> None:
    food, shelter = _donate(world, capability="active")
    food_payable = account_code(AccountKind.CHARITY_PAYABLE, food["id"], "USD")
    shelter_payable = account_code(AccountKind.CHARITY_PAYABLE, shelter["id"], "USD")
    cash = account_code(AccountKind.PLATFORM_CASH, None, "USD")
    assert (_posted(world.engine, food_payable), _posted(world.engine, shelter_payable)) == (
        150,
        70,
    )
    cash_before = _posted(world.engine, cash)
    from settlement.runs.periods import iso_week

    later = iso_week("2026-W46")
    outcome = world.runner(minimum=10**9).settle(later, SETTLED_AT)
    assert outcome.status == "closed"
    assert (_posted(world.engine, food_payable), _posted(world.engine, shelter_payable)) == (0, 70)
    assert _posted(world.engine, cash) == cash_before + 150  # credit-normal: cash went out
    transfers = [
        t for t in world.stripe.objects("transfer") if t["destination"] == food["stripe_account_id"]
    ]
    assert [t["amount"] for t in transfers] == [150]
    with world.engine.connect() as conn:
        (payout,) = conn.execute(select(CharityPayout.__table__)).all()
        assert check_ledger(conn).balanced
    assert (payout.charity_id, payout.amount, payout.status) == (food["id"], 150, "paid")
    world.runner(minimum=10**9).settle(later, SETTLED_AT)  # again: nothing paid twice
    assert len(world.stripe.objects("transfer")) == len(transfers)


def test_a_charity_account_that_cannot_take_transfers_keeps_its_payable(world: Any) -> None:
    food, _ = _donate(world, capability="inactive")
    from settlement.runs.periods import iso_week

    world.runner(minimum=10**9).settle(iso_week("2026-W46"), SETTLED_AT)
    with world.engine.connect() as conn:
        (payout,) = conn.execute(select(CharityPayout.__table__)).all()
        assert check_ledger(conn).balanced
    assert payout.status == "failed" and payout.failure_reason.startswith("account_not_ready")
    food_payable = account_code(AccountKind.CHARITY_PAYABLE, food["id"], "USD")
    assert _posted(world.engine, food_payable) == 150
