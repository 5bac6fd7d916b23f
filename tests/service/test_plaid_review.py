"""Merchants without MIDs: unresolved Plaid merchants recorded, mapped by a merchant user,
and the stored events re-matched through the pipeline's matching (5% offer: $30.00 -> 150)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, select

from infra.standins.plaid_standin import PlaidStandin
from service.auth import Role
from service.plaid.sync import sync_item
from service.tables import CardEventRow
from settlement.ledger.check import check_ledger
from settlement.tables import Reward
from tests.service.api_client import assert_problem, create_merchant, create_offer
from tests.service.plaid_world import link_member, plaid_api, plaid_settings, sdk

_ev = CardEventRow.__table__
_rw = Reward.__table__


def outcomes(engine: Engine) -> dict[str, tuple]:
    with engine.connect() as conn:
        rows = conn.execute(
            select(
                _ev.c.external_id, _ev.c.outcome, _ev.c.merchant_id, _rw.c.reward_amount
            ).select_from(_ev.outerjoin(_rw, _rw.c.id == _ev.c.reward_id))
        ).all()
    return {r[0]: tuple(r[1:]) for r in rows}


def test_unresolved_merchants_are_recorded_mapped_and_rematched(
    engine: Engine, standin: PlaidStandin
) -> None:
    settings = plaid_settings(standin)
    client = sdk(settings)
    now = datetime.now(UTC)
    at = now - timedelta(days=2)
    with plaid_api(engine, settings) as api:
        cafe = create_merchant(api, brand_name="Corner Cafe")
        other = create_merchant(api, brand_name="Elsewhere")
        create_offer(api, merchant_id=cafe["id"], publish=True, starts_at=now - timedelta(days=10))
        linked = link_member(api, settings)
        token = linked.access_token
        pending = standin.add_pending_transaction(
            token, amount=20, merchant_name="Corner Cafe", merchant_entity_id="ent-corner",
            authorized_datetime=at,
        )  # fmt: skip
        sync_item(engine, client, linked.item_id, now, settings=settings)
        posted = standin.post_pending_transaction(token, pending["transaction_id"], amount=30)
        lone = standin.add_posted_transaction(
            token, amount=30, merchant_name="Corner Cafe", merchant_entity_id="ent-corner",
            authorized_datetime=at,
        )  # fmt: skip
        gone = standin.add_posted_transaction(
            token, amount=50, merchant_name="Corner Cafe", merchant_entity_id="ent-corner",
            authorized_datetime=at,
        )  # fmt: skip
        old = standin.add_posted_transaction(
            token, amount=30, merchant_name="Corner Cafe", merchant_entity_id="ent-corner",
            authorized_datetime=now - timedelta(days=60),
        )  # fmt: skip
        standin.add_posted_transaction(token, amount=5, merchant_name="Hot Dog Stand")
        sync_item(engine, client, linked.item_id, now, settings=settings)
        standin.remove_transaction(token, gone["transaction_id"])
        sync_item(engine, client, linked.item_id, now, settings=settings)
        assert outcomes(engine)[lone["transaction_id"]] == ("no_offer", None, None)

        reviewer = api.key(Role.MERCHANT, merchant_id=cafe["id"])
        found = api.get("/v1/unresolved-merchants", reviewer).json()["items"]
        by_value = {u["value"]: u for u in found}
        # The cafe sees what points at its brand; the hot dog stand is not its business.
        assert set(by_value) == {"ent-corner"}
        hot_dog = api.get("/v1/unresolved-merchants", api.admin).json()["items"]
        assert {u["value"] for u in hot_dog} == {"ent-corner", "hot dog stand"}
        corner = by_value["ent-corner"]
        assert (corner["kind"], corner["example_name"], corner["event_count"]) == (
            "entity_id",
            "Corner Cafe",
            5,  # auth, clearing, lone, gone, old
        )
        assert api.get("/v1/unresolved-merchants", linked.token).status_code == 403

        path = f"/v1/merchants/{cafe['id']}/unresolved-merchants/{corner['id']}/map"
        # Another merchant's key cannot map for this brand, nor claim the name for its own,
        # nor even see it.
        stranger = api.key(Role.MERCHANT, merchant_id=other["id"])
        assert api.post(path, stranger).status_code == 404
        claim = f"/v1/merchants/{other['id']}/unresolved-merchants/{corner['id']}/map"
        assert_problem(api.post(claim, stranger), 404, "unresolved_id", "not-found")
        assert api.get("/v1/unresolved-merchants", stranger).json()["items"] == []
        resp = api.post(path, reviewer)
        assert resp.status_code == 200, resp.text
        mapped = resp.json()
        # The clearing of the pending purchase and the lone one, $30.00 each at 5%: 150 + 150.
        # The auth is followed by its clearing, the removed one by its reversal, the old one
        # is outside the window: not matched again.
        assert (mapped["alias"], mapped["rematched_events"], mapped["rewarded_events"]) == (
            "ent-corner",
            2,
            2,
        )
        assert mapped["reward_amount"] == 300
        found = outcomes(engine)
        assert found[posted["transaction_id"]] == ("rewarded", cafe["id"], 150)
        assert found[lone["transaction_id"]] == ("rewarded", cafe["id"], 150)
        assert found[old["transaction_id"]] == ("no_offer", None, None)
        assert found[pending["transaction_id"]][0] == "no_offer"

        again = api.post(path, reviewer).json()
        assert (again["rematched_events"], again["rewarded_events"]) == (0, 0)
        assert_problem(
            api.post(
                f"/v1/merchants/{other['id']}/unresolved-merchants/{corner['id']}/map",
                api.admin,
            ),
            409,
            "unresolved_id",
            "already_mapped",
        )
        # From now on the alias resolves new events directly.
        fresh = standin.add_posted_transaction(
            token, amount=10, merchant_entity_id="ent-corner", authorized_datetime=now
        )
        sync_item(engine, client, linked.item_id, now, settings=settings)
        assert outcomes(engine)[fresh["transaction_id"]] == ("rewarded", cafe["id"], 50)
        with engine.connect() as conn:
            assert check_ledger(conn).balanced
