"""Idempotent retries never 500: twenty concurrent retries of a donation, an activation or a
payout transfer with the same key give the first result, on both databases; a transfer found
by its group is accepted only if it is the transfer the payout would have made."""

from __future__ import annotations

from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import pytest
from sqlalchemy import Engine, func, select

from infra.standins.stripe_standin import StripeStandin
from service.integrations.stripe_billing import StripePayouts, TransferMismatch
from service.settlements.tables import Donation, MemberPayoutAccount
from settlement.ledger.accounts import AccountDirectory, AccountKind
from settlement.ledger.writer import Entry, EntryStatus, Posting, post_entry
from settlement.runs.ports import ProviderBusy
from tests.service.api_client import (
    api_for,
    create_location,
    create_member,
    create_merchant,
    create_offer,
)

RETRIES = 20


def _credit_available(engine: Engine, member_id: int, amount: int) -> None:
    """Give the member available cashback (as matured rewards would)."""
    entry = Entry(
        idempotency_key=f"test-credit-{member_id}",
        kind="accrual",
        status=EntryStatus.POSTED,
        currency="USD",
        postings=(
            Posting(AccountKind.MERCHANT_RECEIVABLE, 1, -amount),
            Posting(AccountKind.MEMBER_AVAILABLE, member_id, amount),
        ),
        effective_at=datetime.now(UTC),
        member_id=member_id,
    )
    with engine.begin() as conn:
        post_entry(conn, AccountDirectory(), entry, datetime.now(UTC))


def _all_at_once(call) -> list:
    with ThreadPoolExecutor(max_workers=RETRIES) as pool:
        return list(pool.map(lambda _i: call(), range(RETRIES)))


def test_concurrent_retries_of_a_donation_give_the_first_result(engine: Engine) -> None:
    with api_for(engine) as api:
        merchant = create_merchant(api)
        member, token = create_member(api)
        _credit_available(engine, member["id"], 1_000)
        charity = api.post("/v1/charities", api.admin, {"name": "Food Bank"}).json()
        body = {"charity_id": charity["id"], "amount": 700, "currency": "USD"}
        headers = {**token, "Idempotency-Key": "gift-2026-11-30"}
        path = f"/v1/members/{member['id']}/donations"
        answers = _all_at_once(lambda: api.client.post(path, headers=headers, json=body))
        assert Counter(r.status_code for r in answers) == {201: 1, 200: RETRIES - 1}, [
            r.text for r in answers if r.status_code >= 300
        ]
        assert len({r.json()["id"] for r in answers}) == 1
        assert {r.json()["available_amount"] for r in answers} == {300}
        with engine.connect() as conn:
            assert conn.scalar(select(func.count()).select_from(Donation)) == 1
        other = {**body, "amount": 1}
        assert api.post(path, headers, other).status_code == 409
        assert merchant


def test_concurrent_retries_of_an_activation_give_the_first_result(engine: Engine) -> None:
    with api_for(engine) as api:
        merchant = create_merchant(api)
        create_location(api, merchant_id=merchant["id"])
        offer = create_offer(
            api, merchant_id=merchant["id"], publish=True, activation_required=True
        )
        member, token = create_member(api)
        path = f"/v1/members/{member['id']}/activations"
        answers = _all_at_once(
            lambda: api.client.post(path, headers=token, json={"offer_id": offer["id"]})
        )
        assert Counter(r.status_code for r in answers) == {201: 1, 200: RETRIES - 1}
        assert len({r.json()["activated_at"] for r in answers}) == 1


@pytest.fixture
def stripe_payouts(engine: Engine):
    with StripeStandin() as stripe:
        client = stripe.client(max_network_retries=0)
        yield stripe, client, StripePayouts(engine, client)


def _payout_account(engine: Engine, client, member_id: int) -> str:
    account = client.v1.accounts.create({"type": "express", "country": "US"}).id
    now = datetime.now(UTC)
    with engine.begin() as conn:
        conn.execute(
            MemberPayoutAccount.__table__.insert().values(
                member_id=member_id, stripe_account_id=account, created_at=now, updated_at=now
            )
        )
    return account


def test_concurrent_retries_of_a_payout_make_one_transfer(engine: Engine, stripe_payouts) -> None:
    stripe, client, payouts = stripe_payouts
    with api_for(engine) as api:
        member, _ = create_member(api)
    _payout_account(engine, client, member["id"])

    def transfer():
        return payouts.transfer(
            member["id"], amount=1_500, currency="USD", payout_id=7, idempotency_key="clo-payout-7"
        )

    def attempt():
        # Stripe answers a request whose key is still in flight with 409 (the SDK's retries are
        # off here): the payout step then reports `ProviderBusy` and the run resumes later.
        try:
            return transfer()
        except ProviderBusy:
            return None

    results = [r for r in _all_at_once(attempt) if r is not None]
    results.append(transfer())  # the resumed run, after every attempt has finished
    assert all(r.ok for r in results)
    assert len({r.transfer_ref for r in results}) == 1
    assert len(stripe.objects("transfer")) == 1


def test_a_transfer_found_by_group_must_match_amount_and_destination(
    engine: Engine, stripe_payouts
) -> None:
    stripe, client, payouts = stripe_payouts
    with api_for(engine) as api:
        member, _ = create_member(api)
        other, _ = create_member(api)
    account = _payout_account(engine, client, member["id"])
    elsewhere = _payout_account(engine, client, other["id"])
    planted = [
        ("clo-payout-8", {"amount": 999, "destination": account}),  # wrong amount
        ("clo-payout-9", {"amount": 1_500, "destination": elsewhere}),  # wrong destination
    ]
    for group, fields in planted:
        client.v1.transfers.create({**fields, "currency": "usd", "transfer_group": group})
    for n, (group, _fields) in enumerate(planted):
        with pytest.raises(TransferMismatch):
            payouts.transfer(
                member["id"], amount=1_500, currency="USD", payout_id=8 + n, idempotency_key=group
            )
    assert len(stripe.objects("transfer")) == 2  # nothing more was sent
