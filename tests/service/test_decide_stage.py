"""The decide stage runs on its loaded context alone: no database, no connection.

A hand-made `BatchContext` (one 5% offer with 20% commission on the reward, a budget of 300,
and a cap of 100 rewards per member that no test reaches, so that it keeps counters) and a
few events: what each event earns, what the budget and counters become, and the ledger
entries the book would write, with the numbers written out.
"""

from __future__ import annotations

from dataclasses import replace
from types import MappingProxyType

import pytest

from matching.events import EventKind
from matching.index import OfferIndex
from matching.lifecycle import RewardTerms
from matching.match import MemberOfferState
from service.feeds.batch import BatchState, Linked, Row
from service.feeds.loading import BatchContext, MemberProfile
from settlement.budget import Remaining
from settlement.rewards import RewardBook, RewardRecord, RewardState
from tests.matching.factories import BRAND, MID_TO_BRAND, MONDAY_NOON_NY, make_event, make_offer

MEMBER = 7
OFFER = make_offer(offer_id=1, budget_amount=300, member_max_rewards=100)


def context(**overrides) -> BatchContext:
    base = BatchContext(
        index=OfferIndex([OFFER], mid_to_brand=MID_TO_BRAND),
        candidates=MappingProxyType({}),
        rules=MappingProxyType({}),
        members=MappingProxyType({MEMBER: MemberProfile(0, None)}),
        activations=MappingProxyType({}),
        brand_history=MappingProxyType({}),
        offer_states=MappingProxyType({MEMBER: {1: MemberOfferState()}}),
        loaded_pairs=frozenset({(MEMBER, 1)}),
        remaining=MappingProxyType({1: Remaining(300, None)}),
        rewards=MappingProxyType({}),
        reward_ids=(501, 502),
        auth_expiry_days=7,
    )
    return replace(base, **overrides)


def row(event_id: int, **event) -> Row:
    return Row(0, make_event(**event), MEMBER, BRAND, id=event_id)


def postings(book: RewardBook) -> list[tuple[str, str, dict]]:
    return [
        (e.kind, e.status.value, {p.kind.value: p.amount for p in e.postings})
        for e in book.ledger.entries
    ]


def test_purchases_draw_on_the_budget_and_the_last_gets_what_is_left():
    # $40.00 earns 200 (budget 300 -> 100 left); the next $40.00 gets the 100 left.
    first, second = row(11, external_id="a1"), row(12, external_id="a2")
    ctx = context(candidates=MappingProxyType({11: (OFFER,), 12: (OFFER,)}))
    book = RewardBook(now=MONDAY_NOON_NY)
    state = BatchState(ctx, book)
    state.purchase(first, cleared=False)
    state.purchase(second, cleared=False)
    assert [(r.outcome, r.reward_id, r.reward_amount) for r in (first, second)] == [
        ("rewarded", 501, 200),
        ("rewarded", 502, 100),
    ]
    assert state.budget_deltas[1] == [300, 2]
    assert state.states[MEMBER][1].reward_amount == 300
    assert postings(book) == [
        ("accrual", "pending", {"merchant_receivable": -250, "member_pending": 200,
                                "platform_revenue": 50}),
        ("accrual", "pending", {"merchant_receivable": -125, "member_pending": 100,
                                "platform_revenue": 25}),
    ]  # fmt: skip
    # The context itself is untouched: the state worked on copies.
    assert ctx.offer_states[MEMBER][1] == MemberOfferState()


def test_a_refund_then_the_clearing_keep_the_refunded_share():
    # A stored authorized reward of 200 on $40.00; a $10.00 refund, then the $40.00 clearing:
    # 150 is kept and posted (commission 50 x 3/4 = 37.5 -> 38).
    stored = RewardRecord(
        id=90, member_id=MEMBER, offer_id=1, merchant_id=BRAND, currency="USD",
        state=RewardState.AUTHORIZED, auth_event_id=5, clearing_event_id=None,
        spend_amount=4_000, reward_amount=200, commission_amount=50,
        occurred_at=MONDAY_NOON_NY, hold_days=30,
    )  # fmt: skip
    ctx = context(
        rewards=MappingProxyType({90: stored}),
        rules=MappingProxyType({1: OFFER}),
        offer_states=MappingProxyType({MEMBER: {1: MemberOfferState(1, 200)}}),
        remaining=MappingProxyType({1: Remaining(100, None)}),
    )
    book = RewardBook(now=MONDAY_NOON_NY)
    state = BatchState(ctx, book)
    auth = Linked(5, "auth", 1, BRAND, 4_000, "USD", MONDAY_NOON_NY, 90, "rewarded", None)
    refund = row(
        13, kind=EventKind.REFUND, amount=1_000, original_external_id="a1", external_id="f1"
    )
    state.reverse_or_refund(refund, auth)
    clearing = row(14, kind=EventKind.CLEARING, amount=4_000, original_external_id="a1")
    state.clear(clearing, auth, tolerance_bps=2_500)
    assert (refund.outcome, refund.reward_amount) == ("clawback", -50)
    assert (clearing.outcome, clearing.reward_amount) == ("rewarded", 150)
    record = state.rewards[90]
    assert record.terms == RewardTerms(4_000, 200, 50, 1_000, 50, 12)
    assert record.state is RewardState.CLEARED
    assert state.budget_deltas[1] == [-50, 0]
    # The refund replaced the pending 200 by a pending 150 (commission 38, merchant 188); the
    # clearing found nothing changed and posted that entry as it was.
    assert postings(book) == [
        ("accrual", "pending", {"merchant_receivable": -188, "member_pending": 150,
                                "platform_revenue": 38}),
    ]  # fmt: skip
    [(entry, status, reason)] = book.ledger.new_resolutions
    assert (entry.idempotency_key, status.value, reason) == (
        "reward:90:reauth:13",
        "posted",
        "cleared",
    )
    assert stored.state is RewardState.AUTHORIZED  # the loaded record was not changed


def test_what_was_not_loaded_is_a_loud_error():
    state = BatchState(context(), RewardBook(now=MONDAY_NOON_NY))
    auth = Linked(5, "auth", 1, BRAND, 4_000, "USD", MONDAY_NOON_NY, 999, "rewarded", None)
    with pytest.raises(AssertionError, match="reward 999 was not loaded"):
        state.reverse_or_refund(row(15, kind=EventKind.REFUND, original_external_id="a1"), auth)
