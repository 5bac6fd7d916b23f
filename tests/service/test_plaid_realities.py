"""Plaid as it really is: history that is not ready yet, posted transactions Plaid does not link
to their pending one, null fields, a pending removed before its posted version, and errors
that say "later".

Worked example throughout: a 5% offer at Blue Bottle limited to one reward per member
(`member_max_rewards` 1), so a purchase counted twice would be refused. A pending $40.00 earns
200; posted at $46.00 with a tip it earns 230.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import Engine, select

from infra.standins.plaid_standin import PlaidStandin
from service.linking_tables import PlaidItem
from service.plaid.sync import act_on_webhook, sync_item
from settlement.tables import Reward
from tests.service.api_client import Api, create_merchant, create_offer
from tests.service.plaid_world import LinkedMember, link_member, plaid_api, plaid_settings, sdk
from tests.service.test_plaid_sync import ENTITY, events

_rw = Reward.__table__
_items = PlaidItem.__table__


def now() -> datetime:
    return datetime.now(UTC)


def one_reward_offer(api: Api, *, days: int = 3) -> None:
    merchant = create_merchant(api)
    for alias, kind in ((ENTITY, "provider_entity_id"), ("Blue Bottle Coffee", "name")):
        resp = api.post(
            f"/v1/merchants/{merchant['id']}/aliases", api.admin, {"alias": alias, "kind": kind}
        )
        assert resp.status_code == 201, resp.text
    create_offer(
        api,
        merchant_id=merchant["id"],
        publish=True,
        starts_at=now() - timedelta(days=days),
        member_max_rewards=1,
    )


def rewards(engine: Engine) -> list[tuple[int, int, str]]:
    """(spend, reward, state) of every reward, oldest first."""
    with engine.connect() as conn:
        rows = conn.execute(
            select(_rw.c.spend_amount, _rw.c.reward_amount, _rw.c.state).order_by(_rw.c.id)
        ).all()
    return [tuple(r) for r in rows]


def item(engine: Engine, item_id: int):
    with engine.connect() as conn:
        return conn.execute(select(_items).where(_items.c.id == item_id)).one()


def capture_webhooks(standin: PlaidStandin, linked: LinkedMember) -> None:
    """Give the Item a webhook address so the stand-in records the bodies it sends (nothing
    listens there: the bodies are handed to the service directly)."""
    found = standin.state.resolve(linked.item_ref)
    with standin.state.lock:
        found.webhook = "http://127.0.0.1:9/unused"


@pytest.fixture
def world(engine: Engine, standin: PlaidStandin) -> Iterator[tuple[Api, LinkedMember, object]]:
    settings = plaid_settings(
        standin,
        plaid_sync_page_size=2,
        plaid_retry_initial_wait_s=0.01,
        plaid_retry_max_wait_s=0.05,
    )
    with plaid_api(engine, settings) as api:
        one_reward_offer(api)
        yield api, link_member(api, settings), settings


def test_history_arrives_after_not_ready_in_pages(engine: Engine, standin: PlaidStandin) -> None:
    standin.items_start_not_ready()
    settings = plaid_settings(standin, plaid_sync_page_size=2)
    with plaid_api(engine, settings) as api:
        merchant = create_merchant(api)
        api.post(
            f"/v1/merchants/{merchant['id']}/aliases",
            api.admin,
            {"alias": ENTITY, "kind": "provider_entity_id"},
        )
        create_offer(api, merchant_id=merchant["id"], publish=True, starts_at=now() - timedelta(90))
        linked = link_member(api, settings)
    capture_webhooks(standin, linked)
    client = sdk(settings)
    recent = [
        standin.add_posted_transaction(
            linked.access_token, amount=amount, merchant_entity_id=ENTITY,
            authorized_datetime=now() - timedelta(days=days),
        )
        for amount, days in ((10.00, 2), (12.00, 3), (14.00, 4))
    ]  # fmt: skip
    older = [
        standin.add_posted_transaction(
            linked.access_token, amount=amount, merchant_entity_id=ENTITY,
            authorized_datetime=now() - timedelta(days=45),
        )
        for amount in (20.00, 30.00)
    ]  # fmt: skip

    first = sync_item(engine, client, linked.item_id, now(), settings=settings)
    assert (first.status, first.changes, first.update_status) == ("not_ready", 0, "NOT_READY")
    row = item(engine, linked.item_id)
    assert (row.sync_cursor, row.transactions_update_status) == ("", "NOT_READY")

    assert standin.advance_transactions_update(linked.item_ref) == "INITIAL_UPDATE_COMPLETE"
    initial = sync_item(engine, client, linked.item_id, now(), settings=settings)
    # three changes, two a page: two pages; 5% of 10.00, 12.00, 14.00 = 50 + 60 + 70
    assert (initial.status, initial.pages, initial.summary.accepted) == ("synced", 2, 3)
    assert initial.update_status == "INITIAL_UPDATE_COMPLETE"
    found = events(engine)
    assert [found[t["transaction_id"]][2] for t in recent] == [50, 60, 70]
    assert item(engine, linked.item_id).sync_cursor != ""

    assert standin.advance_transactions_update(linked.item_ref) == "HISTORICAL_UPDATE_COMPLETE"
    historical = sync_item(engine, client, linked.item_id, now(), settings=settings)
    assert (historical.summary.accepted, historical.update_status) == (
        2,
        "HISTORICAL_UPDATE_COMPLETE",
    )
    found = events(engine)
    assert [found[t["transaction_id"]][2] for t in older] == [100, 150]  # 5% of 20.00, 30.00
    webhooks = [d.body for d in standin.deliveries if d.body.get("webhook_type") == "TRANSACTIONS"]
    assert [(w["initial_update_complete"], w["historical_update_complete"]) for w in webhooks][
        -2:
    ] == [(True, False), (True, True)]


def test_posted_without_pending_id_links_by_account_amount_and_date_with_null_fields(
    engine: Engine, standin: PlaidStandin, world
) -> None:
    _api, linked, settings = world
    client = sdk(settings)
    today = now().date()
    # No merchant_entity_id, no datetime, no authorized_datetime: only dates and a name.
    pending = standin.add_pending_transaction(
        linked.access_token, amount=40.00, merchant_name="Blue Bottle Coffee",
        merchant_entity_id=None, datetime=None, authorized_datetime=None,
        authorized_date=today - timedelta(days=1),
    )  # fmt: skip
    sync_item(engine, client, linked.item_id, now(), settings=settings)
    pid = pending["transaction_id"]
    assert pending["datetime"] is None and pending["merchant_entity_id"] is None
    assert events(engine)[pid] == ("auth", "rewarded", 200, False)

    # Settles as Plaid often reports it: the pending one removed, a posted one with a tip
    # added and no pending_transaction_id.
    standin.remove_transaction(linked.access_token, pid)
    posted = standin.add_posted_transaction(
        linked.access_token, amount=46.00, merchant_name="Blue Bottle Coffee",
        authorized_date=today - timedelta(days=1), date=today,
    )  # fmt: skip
    result = sync_item(engine, client, linked.item_id, now(), settings=settings)
    assert result.summary.accepted == 1  # the clearing; the removed pending is superseded
    found = events(engine)
    assert found[posted["transaction_id"]] == ("clearing", "rewarded", 230, True)
    assert not any(ext.startswith(f"{pid}:rm") for ext in found)
    assert rewards(engine) == [(4600, 230, "cleared")]  # 5% of 46.00, one reward

    # A later $40.00 ten days on is a purchase of its own, not linked (and capped at one).
    later = standin.add_posted_transaction(
        linked.access_token, amount=40.00, merchant_name="Blue Bottle Coffee",
        authorized_date=today + timedelta(days=10),
    )  # fmt: skip
    sync_item(engine, client, linked.item_id, now(), settings=settings)
    kind, outcome, _reward, is_linked = events(engine)[later["transaction_id"]]
    assert (kind, is_linked) == ("clearing", False) and outcome != "rewarded"


@pytest.mark.parametrize("plaid_links_them", [True, False], ids=["pending_id", "no_pending_id"])
def test_pending_removed_then_posted_in_a_later_sync_pays_once(
    engine: Engine, standin: PlaidStandin, world, plaid_links_them: bool
) -> None:
    _api, linked, settings = world
    client = sdk(settings)
    at = now() - timedelta(hours=6)
    pending = standin.add_pending_transaction(
        linked.access_token, amount=40.00, merchant_entity_id=ENTITY,
        merchant_name="Blue Bottle Coffee", authorized_datetime=at,
    )  # fmt: skip
    pid = pending["transaction_id"]
    sync_item(engine, client, linked.item_id, now(), settings=settings)
    assert rewards(engine) == [(4000, 200, "authorized")]

    standin.remove_transaction(linked.access_token, pid)
    sync_item(engine, client, linked.item_id, now(), settings=settings)
    assert events(engine)[f"{pid}:rm1"][:2] == ("reversal", "voided")
    assert rewards(engine) == [(4000, 200, "voided")]

    posted = standin.add_posted_transaction(
        linked.access_token, amount=46.00, merchant_entity_id=ENTITY,
        merchant_name="Blue Bottle Coffee", authorized_datetime=at,
        pending_transaction_id=pid if plaid_links_them else None,
    )  # fmt: skip
    sync_item(engine, client, linked.item_id, now(), settings=settings)
    assert events(engine)[posted["transaction_id"]][:2] == ("clearing", "rewarded")
    paid = [r for r in rewards(engine) if r[2] != "voided"]
    assert paid == [(4600, 230, "cleared")]  # back once, at 5% of 46.00


def test_sync_errors_are_retried_with_backoff_then_left_for_the_next_sync(
    engine: Engine, standin: PlaidStandin, world
) -> None:
    _api, linked, settings = world
    client = sdk(settings)
    first = standin.add_posted_transaction(
        linked.access_token, amount=10.00, merchant_entity_id=ENTITY
    )
    sync_item(engine, client, linked.item_id, now(), settings=settings)
    cursor = item(engine, linked.item_id).sync_cursor
    late = standin.add_posted_transaction(linked.access_token, amount=7.00, merchant_name="Late")

    # Two failures, then an answer: retried within the call (4 attempts allowed).
    standin.inject_sync_error(linked.item_ref, "RATE_LIMIT_EXCEEDED")
    standin.inject_sync_error(linked.item_ref, "CONNECTION_RESET")
    result = sync_item(engine, client, linked.item_id, now(), settings=settings)
    assert (result.status, result.retries, result.summary.accepted) == ("synced", 2, 1)
    assert late["transaction_id"] in events(engine)

    gone = standin.add_posted_transaction(linked.access_token, amount=8.00, merchant_name="Gone")
    cursor = item(engine, linked.item_id).sync_cursor
    for code, status in (
        ("INSTITUTION_DOWN", 400),
        ("INTERNAL_SERVER_ERROR", 500),
        ("RATE_LIMIT_EXCEEDED", 429),
    ):
        standin.inject_sync_error(linked.item_ref, code, times=4)
        failed = sync_item(engine, client, linked.item_id, now(), settings=settings)
        assert (failed.status, failed.retries) == ("retry_later", 3)
        row = item(engine, linked.item_id)
        assert row.sync_cursor == cursor  # neither lost nor advanced
        assert (row.status, row.error_status) == ("active", status)
        assert gone["transaction_id"] not in events(engine)
    assert item(engine, linked.item_id).error_code == "TRANSACTIONS_SYNC_LIMIT"

    standin.inject_sync_error(linked.item_ref, "CONNECTION_RESET", times=4)
    failed = sync_item(engine, client, linked.item_id, now(), settings=settings)
    assert (failed.status, failed.error_code) == ("retry_later", "CONNECTION_ERROR")

    # The next scheduled sync starts from the kept cursor and gets what was waiting.
    again = sync_item(engine, client, linked.item_id, now(), settings=settings)
    assert (again.status, again.summary.accepted) == ("synced", 1)
    row = item(engine, linked.item_id)
    assert (row.error_code, row.error_status) == (None, None)
    assert first["transaction_id"] in events(engine)


@pytest.mark.parametrize(
    ("error_code", "item_status", "error_status"),
    [
        ("ITEM_LOGIN_REQUIRED", "relink_required", 400),
        ("ACCESS_NOT_GRANTED", "relink_required", 400),
        ("INSTITUTION_DOWN", "active", 400),
        ("INTERNAL_SERVER_ERROR", "active", 500),
    ],
)
def test_item_error_webhook_records_code_and_status(
    engine: Engine, standin: PlaidStandin, world, error_code, item_status, error_status
) -> None:
    api, linked, settings = world
    capture_webhooks(standin, linked)
    assert standin.fire_item_error(linked.item_ref, error_code)
    standin.drain_webhooks()
    body = standin.deliveries[-1].body
    assert (body["webhook_code"], body["error"]["status"]) == ("ERROR", error_status)

    answer = act_on_webhook(engine, sdk(settings), body, now(), settings=settings)
    assert answer == {"status": item_status}
    items = api.get(f"/v1/members/{linked.member_id}/plaid/items", linked.token).json()["items"]
    assert [(i["status"], i["error_code"], i["error_status"]) for i in items] == [
        (item_status, error_code, error_status)
    ]


def test_dates_only_become_midnight_utc() -> None:
    from service.plaid.mapping import _occurred_at

    tx = {"datetime": None, "authorized_datetime": None, "authorized_date": "2026-11-02"}
    assert _occurred_at(tx) == datetime(2026, 11, 2, tzinfo=UTC)
    assert _occurred_at({"date": date(2026, 11, 3)}) == datetime(2026, 11, 3, tzinfo=UTC)


def test_a_posted_amount_higher_than_the_pending_one_is_an_amount_change(
    engine: Engine, standin: PlaidStandin, world
) -> None:
    """Some institutions post a purchase by changing the pending transaction itself; and a
    posted amount can rise again (a tip added late). Each is the same purchase cleared at the
    new amount: $40.00 pending earns 200, posted at $46.00 230, raised to $48.00 240. Never a
    reversal and a new purchase, which the one-reward cap would refuse."""
    _api, linked, settings = world
    client = sdk(settings)
    pending = standin.add_pending_transaction(
        linked.access_token, amount=40.00, merchant_entity_id=ENTITY,
        authorized_datetime=now() - timedelta(hours=3),
    )  # fmt: skip
    pid = pending["transaction_id"]
    sync_item(engine, client, linked.item_id, now(), settings=settings)
    standin.modify_transaction(linked.access_token, pid, pending=False, amount=46.00)
    sync_item(engine, client, linked.item_id, now(), settings=settings)
    found = events(engine)
    assert found[f"{pid}:v1"] == ("clearing", "rewarded", 230, True)
    assert not any(kind == "reversal" for kind, *_ in found.values())
    assert rewards(engine) == [(4600, 230, "cleared")]

    standin.modify_amount(linked.access_token, pid, 48.00)
    sync_item(engine, client, linked.item_id, now(), settings=settings)
    assert [r for r in rewards(engine) if r[2] != "voided"] == [(4800, 240, "cleared")]


def test_a_posted_one_before_its_pending_one_is_removed_keeps_the_reward(
    engine: Engine, standin: PlaidStandin, world
) -> None:
    """The posted transaction (no pending_transaction_id) arrives one sync before Plaid
    removes the pending one: the removal reverses nothing. $40.00 pending 200, posted 200."""
    _api, linked, settings = world
    client = sdk(settings)
    at = now() - timedelta(hours=4)
    pending = standin.add_pending_transaction(
        linked.access_token, amount=40.00, merchant_entity_id=ENTITY, authorized_datetime=at
    )
    sync_item(engine, client, linked.item_id, now(), settings=settings)
    posted = standin.add_posted_transaction(
        linked.access_token, amount=40.00, merchant_entity_id=ENTITY, authorized_datetime=at
    )
    sync_item(engine, client, linked.item_id, now(), settings=settings)
    assert events(engine)[posted["transaction_id"]] == ("clearing", "rewarded", 200, True)
    standin.remove_transaction(linked.access_token, pending["transaction_id"])
    sync_item(engine, client, linked.item_id, now(), settings=settings)
    assert not any(kind == "reversal" for kind, *_ in events(engine).values())
    assert rewards(engine) == [(4000, 200, "cleared")]
