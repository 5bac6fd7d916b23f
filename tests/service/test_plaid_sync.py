"""The Plaid transaction feed: /transactions/sync through the ingest pipeline.

Worked example used throughout: a 5% offer at Blue Bottle (Plaid merchant_entity_id
"ent-bluebottle" is a brand alias). A pending $40.00 is an auth earning 200; it posts at
$46.00 with the tip, a clearing linked to the auth, and the reward is recomputed to 230.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, func, select

from infra.standins.plaid_standin import PlaidStandin
from service.linking_tables import PlaidItem
from service.plaid.sync import sync_all_items, sync_item
from service.tables import CardEventRow, RejectedEvent
from settlement.tables import Reward
from tests.service.api_client import Api, create_merchant, create_offer
from tests.service.plaid_world import LinkedMember, link_member, plaid_api, plaid_settings, sdk

ENTITY = "ent-bluebottle"
_ev = CardEventRow.__table__
_rw = Reward.__table__


def now() -> datetime:
    return datetime.now(UTC)


def blue_bottle(api: Api) -> int:
    merchant = create_merchant(api)
    resp = api.post(
        f"/v1/merchants/{merchant['id']}/aliases",
        api.admin,
        {"alias": ENTITY, "kind": "provider_entity_id"},
    )
    assert resp.status_code == 201, resp.text
    create_offer(api, merchant_id=merchant["id"], publish=True, starts_at=now() - timedelta(days=3))
    return merchant["id"]


def events(engine: Engine) -> dict[str, tuple]:
    """external_id -> (kind, outcome, reward_amount of the reward it touches, linked?)."""
    with engine.connect() as conn:
        rows = conn.execute(
            select(_ev.c.external_id, _ev.c.kind, _ev.c.outcome, _rw.c.reward_amount,
                   _ev.c.linked_event_id)
            .select_from(_ev.outerjoin(_rw, _rw.c.id == _ev.c.reward_id))
            .order_by(_ev.c.id)
        ).all()  # fmt: skip
    return {r[0]: (r[1], r[2], r[3], r[4] is not None) for r in rows}


def counts(engine: Engine) -> tuple[int, int]:
    with engine.connect() as conn:
        return (
            conn.execute(select(func.count()).select_from(_ev)).scalar_one(),
            conn.execute(select(func.count()).select_from(_rw)).scalar_one(),
        )


@pytest.fixture
def world(engine: Engine, standin: PlaidStandin) -> Iterator[tuple[Api, LinkedMember, object]]:
    settings = plaid_settings(standin, plaid_sync_page_size=2)
    with plaid_api(engine, settings) as api:
        blue_bottle(api)
        yield api, link_member(api, settings), settings


def test_pending_then_posted_with_a_tip_recomputes_and_resync_changes_nothing(
    engine: Engine, standin: PlaidStandin, world
) -> None:
    _api, linked, settings = world
    client = sdk(settings)
    at = now() - timedelta(hours=2)
    pending = standin.add_pending_transaction(
        linked.access_token, amount=40.00, merchant_name="Blue Bottle Coffee",
        merchant_entity_id=ENTITY, authorized_datetime=at,
    )  # fmt: skip
    first = sync_item(engine, client, linked.item_id, now(), settings=settings)
    assert (first.status, first.summary.accepted, first.summary.rewarded) == ("synced", 1, 1)
    pid = pending["transaction_id"]
    assert events(engine)[pid] == ("auth", "rewarded", 200, False)

    posted = standin.post_pending_transaction(linked.access_token, pid, amount=46.00)
    second = sync_item(engine, client, linked.item_id, now(), settings=settings)
    assert second.summary.accepted == 1  # the removed pending is superseded, not reversed
    found = events(engine)
    assert found[posted["transaction_id"]] == ("clearing", "rewarded", 230, True)
    assert found[pid][2] == 230  # the same reward, recomputed on the cleared amount

    before = counts(engine)
    again = sync_item(engine, client, linked.item_id, now(), settings=settings)
    assert (again.status, again.changes, again.summary.received) == ("synced", 0, 0)
    with engine.begin() as conn:  # even replaying from the start changes nothing
        conn.execute(PlaidItem.__table__.update().values(sync_cursor=""))
    replay = sync_item(engine, client, linked.item_id, now(), settings=settings)
    assert replay.summary.accepted == 0 and counts(engine) == before

    standin.remove_transaction(linked.access_token, posted["transaction_id"])
    sync_item(engine, client, linked.item_id, now(), settings=settings)
    reversal = events(engine)[f"{posted['transaction_id']}:rm1"]
    assert reversal[:2] == ("reversal", "clawback")


def test_pages_link_across_pages_and_a_mutation_restarts_the_loop(
    engine: Engine, standin: PlaidStandin, world
) -> None:
    _api, linked, settings = world
    client = sdk(settings)
    at = now() - timedelta(hours=3)
    pendings = [
        standin.add_pending_transaction(
            linked.access_token, amount=10 + i, merchant_entity_id=ENTITY,
            merchant_name="Blue Bottle", authorized_datetime=at,
        )
        for i in range(3)
    ]  # fmt: skip
    sync_item(engine, client, linked.item_id, now(), settings=settings)
    posted = [
        standin.post_pending_transaction(linked.access_token, p["transaction_id"]) for p in pendings
    ]
    standin.add_posted_transaction(  # no pending predecessor: pending_transaction_id null
        linked.access_token, amount=20, merchant_entity_id=ENTITY, merchant_name="Blue Bottle",
        authorized_datetime=at,
    )  # fmt: skip
    standin.force_sync_mutation_error(linked.access_token)
    with engine.connect() as conn:
        cursor_before = conn.scalar(select(PlaidItem.__table__.c.sync_cursor))
    result = sync_item(engine, client, linked.item_id, now(), settings=settings)
    assert result.restarts == 1 and result.pages > 4  # 7 changes, 2 a page, twice over
    assert result.summary.accepted == 4 and result.summary.duplicates == 0
    found = events(engine)
    for p, c in zip(pendings, posted, strict=True):
        assert found[c["transaction_id"]][:2] == ("clearing", "rewarded")
        assert found[c["transaction_id"]][3], "linked to its auth"
        assert found[p["transaction_id"]][2] == (10 + pendings.index(p)) * 5
    with engine.connect() as conn:
        assert conn.scalar(select(PlaidItem.__table__.c.sync_cursor)) != cursor_before
    assert counts(engine)[1] == 4


def test_refunds_amount_changes_and_unknown_currencies(
    engine: Engine, standin: PlaidStandin, world
) -> None:
    _api, linked, settings = world
    client = sdk(settings)
    at = now() - timedelta(hours=5)
    shoes = standin.add_posted_transaction(
        linked.access_token, amount=80, merchant_entity_id=ENTITY, authorized_datetime=at
    )
    lowered = standin.add_posted_transaction(
        linked.access_token, amount=50, merchant_entity_id=ENTITY, authorized_datetime=at
    )
    standin.add_posted_transaction(linked.access_token, amount=0.1 + 0.2, merchant_name="Kiosk")
    odd = standin.add_posted_transaction(
        linked.access_token, amount=5, iso_currency_code=None, unofficial_currency_code="XBT"
    )
    sync_item(engine, client, linked.item_id, now(), settings=settings)
    refund = standin.add_refund(
        linked.access_token, amount=20, merchant_entity_id=ENTITY, authorized_datetime=now()
    )
    standin.modify_amount(linked.access_token, lowered["transaction_id"], 40)
    sync_item(engine, client, linked.item_id, now(), settings=settings)

    found = events(engine)
    assert found[shoes["transaction_id"]][:3] == ("clearing", "rewarded", 400)
    # $20 back of $80: a quarter of 400 clawed back.
    assert found[refund["transaction_id"]][:2] == ("refund", "clawback")
    # 50.00 -> 40.00: a refund of the 10.00 difference, a fifth of 250.
    assert found[f"{lowered['transaction_id']}:adj1"][:2] == ("refund", "clawback")
    with engine.connect() as conn:
        rewards = dict(
            conn.execute(
                select(_rw.c.spend_amount, _rw.c.clawed_reward_amount).order_by(_rw.c.id)
            ).all()
        )
        rejected = conn.execute(
            select(RejectedEvent.__table__.c.reason, RejectedEvent.__table__.c.raw_redacted)
        ).all()
    assert rewards == {8000: 100, 5000: 50}
    [(reason, raw)] = rejected  # kept with its reason, not dropped
    assert reason == "invalid_amount" and odd["transaction_id"] in raw


def test_item_login_required_marks_relink_and_loses_nothing(
    engine: Engine, standin: PlaidStandin, world
) -> None:
    api, linked, settings = world
    client = sdk(settings)
    standin.add_posted_transaction(linked.access_token, amount=12, merchant_entity_id=ENTITY)
    sync_item(engine, client, linked.item_id, now(), settings=settings)
    standin.require_login(linked.item_ref)
    late = standin.add_posted_transaction(linked.access_token, amount=7, merchant_name="Late")

    results = sync_all_items(engine, client, now(), settings=settings)
    assert [(r.status, r.error_code) for r in results] == [
        ("relink_required", "ITEM_LOGIN_REQUIRED")
    ]
    items = api.get(f"/v1/members/{linked.member_id}/plaid/items", linked.token).json()["items"]
    assert [(i["status"], i["error_code"]) for i in items] == [
        ("relink_required", "ITEM_LOGIN_REQUIRED")
    ]
    assert counts(engine)[0] == 1  # what was accepted stays
    assert sync_all_items(engine, client, now(), settings=settings) == []  # skipped until relinked
    resp = api.post(
        f"/v1/members/{linked.member_id}/plaid/link-token",
        linked.token,
        {"item_id": linked.item_id},
    )
    assert resp.status_code == 200, resp.text  # update mode, to repair the login

    standin.repair_login(linked.item_ref)
    result = sync_item(engine, client, linked.item_id, now(), settings=settings)
    assert result.status == "synced" and late["transaction_id"] in events(engine)
    items = api.get(f"/v1/members/{linked.member_id}/plaid/items", linked.token).json()["items"]
    assert items[0]["status"] == "active"

    standin.revoke_access_token(linked.access_token)
    revoked = sync_item(engine, client, linked.item_id, now(), settings=settings)
    assert (revoked.status, revoked.error_code) == ("relink_required", "INVALID_ACCESS_TOKEN")
