"""Property tests of the feed path: any interleaving of one purchase's events, any batching.

A purchase is an auth, its clearing (once, presented twice, or split in two shipments), refunds
and perhaps a reversal, arriving in any order, with duplicates. Whatever the order and however
the events are cut into batches:

- the ledger balances;
- the member never holds more than the offer pays on the purchase's priced spend, and nothing
  once the purchase is refunded in full;
- the outcome does not depend on the batching: one event per batch and any other cut give the
  same reward and the same balances.
"""

from __future__ import annotations

from datetime import timedelta
from itertools import count, pairwise

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import text

from matching.money import apply_bps
from tests.service.pipeline_world import T0, PipelineWorld

RATE_BPS = 500
_members = count(100)


@st.composite
def purchases(draw):
    auth = draw(st.integers(1_000, 20_000))
    shape = draw(st.sampled_from(["none", "one", "presented_twice", "split"]))
    if shape == "split":
        first = draw(st.integers(1, auth - 1))
        clearings = [first, auth - first]
    elif shape == "none":
        clearings = []
    else:
        amount = draw(st.integers(auth * 8 // 10, auth * 12 // 10))
        clearings = [amount] * (2 if shape == "presented_twice" else 1)
    events = [("auth", "a", auth, None)]
    events += [("clearing", f"c{i}", amount, "a") for i, amount in enumerate(clearings)]
    for i, amount in enumerate(draw(st.lists(st.integers(1, auth), max_size=2))):
        named = draw(st.sampled_from(["a", *(f"c{j}" for j in range(len(clearings)))]))
        events.append(("refund", f"f{i}", amount, named))
    if draw(st.booleans()):
        events.append(("reversal", "r", auth, "a"))
    order = draw(st.permutations(events))
    # Feeds repeat themselves: some events come twice.
    repeats = draw(st.lists(st.sampled_from(order), max_size=2))
    stream = list(order)
    for event in repeats:
        stream.insert(draw(st.integers(0, len(stream))), event)
    cuts = draw(st.lists(st.integers(1, max(len(stream) - 1, 1)), max_size=3))
    return auth, clearings, stream, sorted(set(cuts))


@pytest.fixture
def world(engine) -> PipelineWorld:
    w = PipelineWorld(engine)
    w.offer(offer_id=10, rate_bps=RATE_BPS)
    return w


def _ingest(world: PipelineWorld, member: int, stream, batches: list[list[int]]) -> None:
    for batch in batches:
        events = []
        for position in batch:
            kind, ext, amount, original = stream[position]
            events.append(
                world.event(
                    kind,
                    card=member,
                    amount=amount,
                    ext=f"m{member}-{ext}",
                    original=f"m{member}-{original}" if original else None,
                    at=T0 + timedelta(minutes=position),
                )
            )
        world.ingest(*events)


def _result(world: PipelineWorld, member: int) -> tuple:
    with world.engine.connect() as conn:
        rewards = conn.execute(
            text(
                "SELECT state, spend_amount, reward_amount, commission_amount, "
                "refunded_spend_amount, clawed_reward_amount, clawed_commission_amount "
                "FROM reward WHERE member_id = :m ORDER BY id"
            ),
            {"m": member},
        ).all()
    pending = world.balances().get(f"member:{member}:pending:USD", (0, 0))
    return [tuple(r) for r in rewards], pending


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(purchase=purchases())
def test_any_interleaving_and_any_batching_gives_one_answer(world, purchase):
    auth, clearings, stream, cuts = purchase
    one_by_one, cut = next(_members), next(_members)
    for member in (one_by_one, cut):
        world.member(member_id=member)
    _ingest(world, one_by_one, stream, [[i] for i in range(len(stream))])
    bounds = [0, *cuts, len(stream)]
    _ingest(world, cut, stream, [list(range(a, b)) for a, b in pairwise(bounds) if a < b])

    first, second = _result(world, one_by_one), _result(world, cut)
    assert first == second
    rewards, (posted, pending) = first
    assert posted >= 0 and pending >= 0
    held = posted + pending
    # Priced on the auth or on its clearings (a split purchase on both parts together).
    spend = max([auth, sum(clearings) if len(set(clearings)) > 1 else max(clearings, default=0)])
    assert held <= apply_bps(spend, RATE_BPS)
    if rewards:
        _state, spend_amount, reward, _, refunded, clawed, _ = rewards[0]
        assert 0 <= clawed <= reward
        if refunded >= spend_amount:
            assert held == 0
    world.assert_balanced()
