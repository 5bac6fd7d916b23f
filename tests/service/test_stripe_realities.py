"""Settlement against a Stripe stand-in that behaves as Stripe does: a short platform
balance defers payouts to the next run, an account without the `transfers` capability is
told so, rate limits and in-flight keys resolve without a second invoice or transfer, and a
crash between finalizing and sending an invoice does not email it twice."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, select
from sqlmodel import col

from infra.standins.stripe_standin import StripeStandin
from service.integrations.stripe_billing import StripeBilling, StripePayouts
from settlement.ledger.accounts import AccountKind, account_code
from settlement.ledger.check import check_ledger
from settlement.runs.periods import iso_week
from settlement.runs.ports import InvoiceLine, Ports
from settlement.runs.runner import RunSettings, SettlementRunner
from settlement.runs.tables import MemberPayout
from tests.balances import posted
from tests.settlement.settle_world import SETTLED_AT, SettleWorld, build_world, link_payout_accounts


@pytest.fixture
def world(engine: Engine) -> Iterator[SettleWorld]:
    sw = build_world(engine, events=600, members=12)
    with StripeStandin() as stripe:
        link_payout_accounts(sw, stripe)
        yield sw


def runner(sw: SettleWorld, *, retries: int = 2, hook: Any = None) -> SettlementRunner:
    assert sw.stripe is not None
    client = sw.stripe.client(max_network_retries=retries)
    ports = Ports(StripeBilling(sw.engine, client), StripePayouts(sw.engine, client))
    settings = RunSettings(auto_approve_below_amount=10**12, payout_minimum_amount=100)
    return SettlementRunner(sw.engine, ports, settings, hook=hook)


def payouts(engine: Engine) -> list[Any]:
    with engine.connect() as conn:
        return list(conn.execute(select(MemberPayout.__table__).order_by(col(MemberPayout.id))))


def balanced(engine: Engine) -> bool:
    with engine.connect() as conn:
        return check_ledger(conn).balanced


def test_a_short_platform_balance_defers_payouts_to_the_next_run(world: SettleWorld) -> None:
    assert world.stripe is not None
    world.stripe.set_platform_balance("usd", 0)
    assert runner(world).settle(world.period, SETTLED_AT).status == "closed"
    first = payouts(world.engine)
    assert first and {p.status for p in first} == {"deferred"}
    assert all(p.failure_reason.startswith("balance_insufficient") for p in first)
    owed = {p.member_id: p.amount for p in first}
    for member_id, amount in owed.items():  # the money is back where the member sees it
        code = account_code(AccountKind.MEMBER_AVAILABLE, member_id, "USD")
        assert posted(world.engine, code) == amount
    in_transit = account_code(AccountKind.PLATFORM_PAYOUTS_IN_TRANSIT, None, "USD")
    assert posted(world.engine, in_transit) == 0

    world.stripe.set_platform_balance("usd", sum(owed.values()))  # funded to the cent
    later = iso_week("2026-W46")
    assert runner(world).settle(later, SETTLED_AT + timedelta(days=7)).status == "closed"
    second = [p for p in payouts(world.engine) if p.id not in {q.id for q in first}]
    assert {p.member_id: p.amount for p in second} == owed
    assert {p.status for p in second} == {"paid"}
    assert len(world.stripe.objects("transfer")) == len(owed)  # one transfer each, no more
    assert balanced(world.engine)


def test_a_member_whose_account_cannot_take_transfers_is_told_so(world: SettleWorld) -> None:
    assert world.stripe is not None and world.accounts is not None
    member_id = next(iter(world.accounts))
    world.stripe.set_capability(world.accounts[member_id], "transfers", "inactive")
    runner(world).settle(world.period, SETTLED_AT)
    mine = [p for p in payouts(world.engine) if p.member_id == member_id]
    assert [p.status for p in mine] == ["failed"]
    assert mine[0].failure_reason.startswith("account_not_ready")
    assert balanced(world.engine)


def test_a_rate_limit_pauses_the_run_and_the_resume_bills_once(world: SettleWorld) -> None:
    assert world.stripe is not None
    world.stripe.inject("POST /v1/invoices", "rate_limit")
    world.stripe.inject("POST /v1/transfers", "rate_limit")
    outcome = runner(world).settle(world.period, SETTLED_AT)
    assert outcome.status == "retry_later"
    assert runner(world).settle(world.period, SETTLED_AT).status == "retry_later"  # transfers
    assert runner(world).settle(world.period, SETTLED_AT).status == "closed"
    invoices = world.stripe.objects("invoice")
    assert len({i["metadata"]["clo_key"] for i in invoices}) == len(invoices)
    transfers = world.stripe.objects("transfer")
    assert len({t["transfer_group"] for t in transfers}) == len(transfers)
    assert len(transfers) == len([p for p in payouts(world.engine) if p.status == "paid"])
    assert balanced(world.engine)


def test_lock_timeouts_and_an_in_flight_key_resolve_to_one_transfer(world: SettleWorld) -> None:
    assert world.stripe is not None and world.accounts is not None
    world.stripe.inject("POST /v1/transfers", "lock_timeout", count=2)  # the SDK retries
    world.stripe.inject("POST /v1/invoices", "lock_timeout")
    assert runner(world).settle(world.period, SETTLED_AT).status == "closed"
    assert [k for _, k in world.stripe.faults.fired].count("lock_timeout") == 3
    transfers = world.stripe.objects("transfer")
    assert len(transfers) == len([p for p in payouts(world.engine) if p.status == "paid"])

    # Two callers with one key at once: the second meets 409 idempotency_key_in_use, the
    # SDK retries it, and both get the one transfer.
    client = world.stripe.client(max_network_retries=3)
    port = StripePayouts(world.engine, client)
    member_id = next(iter(world.accounts))
    world.stripe.set_platform_balance("usd", None)
    world.stripe.inject("POST /v1/transfers", "slow", delay_seconds=0.8)
    results: list[Any] = []

    def pay() -> None:
        results.append(
            port.transfer(
                member_id, amount=1_234, currency="USD", payout_id=999, idempotency_key="k-999"
            )
        )

    threads = [threading.Thread(target=pay) for _ in range(2)]
    threads[0].start()
    while world.stripe.faults.fired[-1:] != [("POST /v1/transfers", "slow")]:
        threading.Event().wait(0.01)
    threads[1].start()
    for t in threads:
        t.join()
    assert [r.ok for r in results] == [True, True]
    assert results[0].transfer_ref == results[1].transfer_ref
    assert ("", "idempotency_key_in_use") in world.stripe.faults.fired
    assert len([t for t in world.stripe.objects("transfer") if t["amount"] == 1_234]) == 1


def test_a_crash_between_finalize_and_send_does_not_send_twice(world: SettleWorld) -> None:
    assert world.stripe is not None
    crashed: list[str] = []

    def crash_once(name: str) -> None:
        if name == "bill:invoice_sent" and not crashed:
            crashed.append(name)
            raise RuntimeError("crash after the send, before it was recorded")

    with pytest.raises(RuntimeError):
        runner(world, hook=crash_once).settle(world.period, SETTLED_AT)
    world.stripe.expire_idempotency_keys()  # Stripe forgets keys after 24 h
    assert runner(world).settle(world.period, SETTLED_AT).status == "closed"
    sent = [e["data"]["object"]["id"] for e in world.stripe.events("invoice.sent")]
    assert sent and len(sent) == len(set(sent))
    assert len(sent) == len(world.stripe.objects("invoice"))


def test_invoice_items_are_found_by_key_past_the_first_page(world: SettleWorld) -> None:
    assert world.stripe is not None
    client = world.stripe.client(max_network_retries=0)
    customer = client.v1.customers.create({"email": "ap@merchant.example"})
    billing = StripeBilling(world.engine, client)
    invoice_ref = billing.create_invoice(
        customer.id, currency="USD", description="many offers", idempotency_key="k-inv"
    )
    lines = [
        InvoiceLine(offer_id=n, amount=100 + n, description=f"offer {n}", idempotency_key=f"k-{n}")
        for n in range(1, 151)  # 150 items: a page holds 100
    ]
    first = [billing.add_item(customer.id, invoice_ref, line, currency="USD") for line in lines]
    world.stripe.expire_idempotency_keys()
    resumed = StripeBilling(world.engine, client)  # a new process: nothing cached
    again = [resumed.add_item(customer.id, invoice_ref, line, currency="USD") for line in lines]
    assert again == first
    assert len(world.stripe.objects("invoiceitem")) == 150
    assert client.v1.invoices.retrieve(invoice_ref).total == sum(101 + n for n in range(150))
